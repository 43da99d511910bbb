"""Numbers that stay true: every percentage and every time in seconds that the README, docs/ and the
notebook's markdown quote is a value of a committed record (models/metrics.json, bench/results/*.json),
and every module, file and command they name exists.

The experiment journal (bench/README.md) is exempt from the number check: it quotes scratch probes
and earlier rounds by design; its peers table is held to the bench JSON by test_readme.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RECORDS = [ROOT / "models" / "metrics.json", *sorted((ROOT / "bench" / "results").glob("*.json"))]
# a decimal or whole number followed by a percent sign or by seconds
QUOTED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) ?(%|s)(?![\w])")


def recorded_values() -> list[float]:
    values: list[float] = []

    def walk(node):
        if isinstance(node, bool):
            return
        if isinstance(node, (int, float)):
            values.append(float(node))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in RECORDS:
        walk(json.loads(path.read_text()))
    return values


def notebook_markdown() -> str:
    cells = json.loads((ROOT / "notebooks" / "mnist_cnn.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def texts() -> dict[str, str]:
    found = {str(path.relative_to(ROOT)): path.read_text() for path in DOCS}
    found["notebooks/mnist_cnn.ipynb (markdown)"] = notebook_markdown()
    return found


def unrecorded(text: str, values: list[float]) -> list[str]:
    missing = []
    for match in QUOTED.finditer(text):
        number, unit = match.group(1), match.group(2)
        decimals = len(number.split(".")[1]) if "." in number else 0
        wanted = float(number)
        scales = (100.0, 1.0) if unit == "%" else (1.0,)
        if not any(round(value * scale, decimals) == wanted for value in values for scale in scales):
            missing.append(match.group(0))
    return missing


@pytest.mark.parametrize("name", sorted(texts()))
def test_every_quoted_percentage_and_time_is_a_recorded_value(name):
    assert unrecorded(texts()[name], recorded_values()) == []


def test_the_number_check_catches_an_invented_figure():
    values = recorded_values()
    assert unrecorded("test accuracy 99.65 % in 124.6 s", values) == []  # full in a committed bench run
    assert unrecorded("test accuracy 42.42 % in 1234.5 s", values) == ["42.42 %", "1234.5 s"]


MODULE = re.compile(r"\bmnist_cnn(?:\.[a-z_0-9]+)+")
# named on purpose as files that do not exist: docs/command-line.md shows the error they give
MISSING_ON_PURPOSE = {"data/samples/nothing.png"}
FILE_SUFFIXES = {"keras", "h5", "tflite", "onnx", "ipynb", "csv", "json"}
PATH = re.compile(r"(?<![\w/.-])((?:src|tests|bench|data|docs|models|figures|notebooks|\.ci)/[\w./-]*[\w])")


def resolves(dotted: str) -> bool:
    """`mnist_cnn.a.b.c`: the longest prefix that is a module exists, and the rest are attributes of it
    (a subpackage's re-exported names included)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            value = importlib.import_module(module)
            for attribute in parts[cut:]:
                if not hasattr(value, attribute):
                    return False
                value = getattr(value, attribute)
            return True
    return False


def test_the_module_check_catches_a_stale_name():
    assert resolves("mnist_cnn.data.images.read_image")
    assert resolves("mnist_cnn.data.read_image")
    assert not resolves("mnist_cnn.predict")
    assert not resolves("mnist_cnn.data.images.no_such_function")


@pytest.mark.parametrize("name", sorted(texts()))
def test_every_module_and_path_named_exists(name):
    text = texts()[name]
    for dotted in sorted(set(MODULE.findall(text))):
        if dotted.split(".")[1] in FILE_SUFFIXES:  # a file name such as mnist_cnn.keras
            continue
        assert resolves(dotted), (name, dotted)
    for path in sorted(set(PATH.findall(text))):
        if "<" in path or "*" in path or path in MISSING_ON_PURPOSE:
            continue
        assert (ROOT / path).exists(), (name, path)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted([*(ROOT / "bench").glob("*.py"), *(ROOT / "data").rglob("*.py")]))
def test_every_script_in_bench_and_data_imports(script):
    """Each script at least imports (its `main` is not run): no stale module names."""
    # Registered in sys.modules before it runs, as Python's own import does: dataclasses look it up there.
    # Its folder goes first on the path, as when it runs as a script: bench scripts import their siblings.
    code = ("import importlib.util, os, sys; sys.path.insert(0, os.path.dirname(sys.argv[1])); "
            "spec = importlib.util.spec_from_file_location('s', sys.argv[1]); "
            "module = importlib.util.module_from_spec(spec); sys.modules['s'] = module; "
            "spec.loader.exec_module(module)")
    done = subprocess.run([sys.executable, "-c", code, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_docs_named_in_the_readme_exist():
    for link in re.findall(r"\]\(([^)#]+)\)", (ROOT / "README.md").read_text()):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
