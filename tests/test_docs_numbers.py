"""Numbers that stay true: every percentage, time in seconds, ratio ("1.49 times") and count of
multiply-adds ("8.3 M") that the README, docs/, the bench reference and the notebook's markdown quote is
bound, in docs/quoted-numbers.json, to the one committed record (models/metrics.json,
bench/results/*.json) and key it comes from, and equals that value as quoted; and every module, file
and command they name exists.

A quote added without its binding fails, and so does a binding whose value no longer rounds to the
quote: two figures for one thing cannot both stand. The experiment journal (bench/JOURNAL.md) is
exempt: it quotes scratch probes and earlier rounds by design.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
BINDINGS = ROOT / "docs" / "quoted-numbers.json"
RECORD_FOLDERS = (ROOT / "models", ROOT / "bench" / "results")
# a decimal or whole number followed by a percent sign, seconds, "times" or "M" (million multiply-adds)
QUOTED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?: ?(%|s)|\s+(times|M(?:\s+multiply-adds)?))(?!\w)")
SCALES = {"%": (100.0, 1.0), "s": (1.0,), "times": (1.0,), "M": (1e-6,)}


def notebook_markdown() -> str:
    cells = json.loads((ROOT / "notebooks" / "mnist_cnn.ipynb").read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def texts() -> dict[str, str]:
    found = {str(path.relative_to(ROOT)): path.read_text() for path in DOCS}
    found["notebooks/mnist_cnn.ipynb (markdown)"] = notebook_markdown()
    return found


def bindings() -> dict[str, list[list[Any]]]:
    return {name: entries for name, entries in json.loads(BINDINGS.read_text()).items()
            if not name.startswith("_")}


def recorded(record: str, key: str) -> float:
    """The value at `key` (keys and list indexes separated by /; "A / B" divides two) in a committed
    record; a key that holds a slash itself ("5x5/1") is matched whole."""
    if " / " in key:
        numerator, denominator = key.split(" / ")
        return recorded(record, numerator) / recorded(record, denominator)
    path = (ROOT / record).resolve()
    if not any(path.is_relative_to(folder) for folder in RECORD_FOLDERS) or path.suffix != ".json":
        raise ValueError(f"{record} is not a committed record (models/ or bench/results/ JSON)")
    node: Any = json.loads(path.read_text())
    parts = key.split("/")
    while parts:
        if isinstance(node, list):
            node = node[int(parts.pop(0))]
            continue
        cut = next((n for n in range(len(parts), 0, -1) if "/".join(parts[:n]) in node), 1)
        node, parts = node["/".join(parts[:cut])], parts[cut:]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ValueError(f"{record} {key} is not a number: {node!r}")
    return float(node)


def quotes_in(text: str) -> list[str]:
    """The quotes in order, each on one line with single spaces (a quote may wrap)."""
    return [" ".join(m.group(0).split()) for m in QUOTED.finditer(text)]


def matches(quote: str, value: float) -> bool:
    """The quote is the value as written: a fraction as a percentage (or a percentage as such), a count
    in millions, rounded to the quote's decimals."""
    number, short, long = QUOTED.fullmatch(quote).groups()
    decimals = len(number.split(".")[1]) if "." in number else 0
    unit = short or long.split()[0]
    return any(round(value * scale, decimals) == float(number) for scale in SCALES[unit])


def binding_errors(text: str, entries: list[list[Any]]) -> list[str]:
    """What is wrong between a text's quotes, in order, and its bindings."""
    quotes = quotes_in(text)
    bound = [entry[0] for entry in entries]
    if quotes != bound:
        pairs = enumerate(zip(quotes, bound, strict=False))
        first = next((i for i, (q, b) in pairs if q != b), min(len(quotes), len(bound)))
        return [f"quote {first + 1}: the text has {quotes[first:first + 3]}, docs/quoted-numbers.json "
                f"{bound[first:first + 3]} (add, move or remove the binding with the text)"]
    errors = []
    for index, (quote, record, key) in enumerate(entries, start=1):
        if record is None:
            if not key:
                errors.append(f"quote {index} ({quote}): null needs the reason it is not a measurement")
            continue
        try:
            value = recorded(record, key)
        except (OSError, KeyError, IndexError, ValueError) as error:
            errors.append(f"quote {index} ({quote}): {record} {key}: {error!r}")
            continue
        if not matches(quote, value):
            errors.append(f"quote {index} ({quote}): {record} {key} holds {value}")
    return errors


def test_every_text_has_its_bindings_and_no_binding_is_left_over():
    assert sorted(bindings()) == sorted(texts())


@pytest.mark.parametrize("name", sorted(texts()))
def test_every_quoted_figure_is_its_bound_record_value(name):
    assert binding_errors(texts()[name], bindings().get(name, [])) == []


def test_the_binding_check_catches_an_invented_a_stale_and_an_unbound_figure():
    metrics = "models/metrics.json"
    accuracy = recorded(metrics, "test_accuracy")
    quote = f"{accuracy * 100:.2f} %"
    assert binding_errors(f"test accuracy {quote}", [[quote, metrics, "test_accuracy"]]) == []
    # the right number bound to another key that happens to differ
    stale = binding_errors("test accuracy 42.42 %", [["42.42 %", metrics, "test_accuracy"]])
    assert len(stale) == 1 and "holds" in stale[0]
    unbound = binding_errors(f"test accuracy {quote} in 12.5 s", [[quote, metrics, "test_accuracy"]])
    assert len(unbound) == 1 and "12.5 s" in unbound[0]
    assert "not a committed record" in binding_errors("1 %", [["1 %", "README.md", "x"]])[0]
    assert binding_errors("99 %", [["99 %", None, "an example"]]) == []


def test_ratios_and_multiply_adds_are_bound_too():
    record = "bench/results/train_bench_full_vs_standardize24_amx.json"
    ratio = "summary/candidate/train_seconds / summary/full/train_seconds"
    assert binding_errors("at 1.49\ntimes the time", [["1.49 times", record, ratio]]) == []
    assert "holds" in binding_errors("at 1.29 times the time", [["1.29 times", record, ratio]])[0]
    assert "1.49 times" in binding_errors("at 1.49 times the time", [])[0]
    work = "bench/results/first_conv_full_5x5_amx.json"
    per_image = "variants/5x5/1/multiply_adds_per_image"  # its key holds a slash
    assert binding_errors("8.3 M multiply-adds", [["8.3 M multiply-adds", work, per_image]]) == []
    assert "holds" in binding_errors("9.8 M", [["9.8 M", work, per_image]])[0]
    assert quotes_in("a 5 MB file, 3 Mbit, 10 M multiply-adds, 2 times, 4 s, 5 sets") == [
        "10 M multiply-adds", "2 times", "4 s"]


MODULE = re.compile(r"\bmnist_cnn(?:\.[a-z_0-9]+)+")
# named on purpose as files that do not exist: docs/command-line.md shows the error they give
MISSING_ON_PURPOSE = {"data/samples/nothing.png"}
FILE_SUFFIXES = {"keras", "h5", "tflite", "onnx", "ipynb", "csv", "json"}
PATH = re.compile(r"(?<![\w/.-])((?:src|tests|bench|data|docs|models|figures|notebooks|\.ci)/[\w./-]*[\w])")


def resolves(dotted: str) -> bool:
    """`mnist_cnn.a.b.c`: the longest prefix that is a module exists, and the rest are attributes of it."""
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
    assert not resolves("mnist_cnn.data.read_image")  # no re-exports: names resolve where defined
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
