"""The package stays short enough to be read: its docstrings per docstring and in all, its lines."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOTAL_WORDS = 8000
MODULE_WORDS = 80
DOCSTRING_WORDS = 100
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstrings(source: str, name: str) -> list[tuple[str, bool, int]]:
    """Each docstring in `source` as (where, is the module's, words)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        text = ast.get_docstring(node) if isinstance(node, DOCUMENTED) else None
        if text:
            where = f"{name}:{getattr(node, 'lineno', 1)} {getattr(node, 'name', '')}".rstrip()
            found.append((where, isinstance(node, ast.Module), len(text.split())))
    return found


def over_limits(found: list[tuple[str, bool, int]]) -> list[str]:
    """What breaks a limit: each docstring over its own, and the total over the package's."""
    errors = [f"{where}: {words} words" for where, module, words in found
              if words > (MODULE_WORDS if module else DOCSTRING_WORDS)]
    total = sum(words for _, _, words in found)
    return errors + ([f"{total} docstring words in all, over {TOTAL_WORDS}"] if total > TOTAL_WORDS else [])


def test_the_package_docstrings_are_within_their_limits():
    found = [row for path in sorted((ROOT / "src").rglob("*.py"))
             for row in docstrings(path.read_text(), str(path.relative_to(ROOT)))]
    assert len(found) > 100  # the walk reached the package
    assert over_limits(found) == []


def test_the_limits_catch_a_long_docstring_and_a_long_total():
    long_module = '"""' + "word " * (MODULE_WORDS + 1) + '"""\n'
    function = 'def f():\n    """' + "word " * DOCSTRING_WORDS + '"""\n'
    found = docstrings(long_module + function, "m.py")
    assert [words for _, _, words in found] == [MODULE_WORDS + 1, DOCSTRING_WORDS]
    assert over_limits(found) == [f"m.py:1: {MODULE_WORDS + 1} words"]
    many = [("x", False, DOCSTRING_WORDS)] * (TOTAL_WORDS // DOCSTRING_WORDS + 1)
    assert over_limits(many) == [f"{len(many) * DOCSTRING_WORDS} docstring words in all, over {TOTAL_WORDS}"]
    assert over_limits([("m.py:1", True, MODULE_WORDS), ("m.py:2 f", False, DOCSTRING_WORDS)]) == []


if __name__ == "__main__":  # a listing, longest first, for whoever trims
    rows = [row for path in sorted((ROOT / "src").rglob("*.py"))
            for row in docstrings(path.read_text(), str(path.relative_to(ROOT)))]
    for where, module, words in sorted(rows, key=lambda row: -row[2]):
        print(words, "module" if module else "", where)
    print("total", sum(row[2] for row in rows))


def notebook_prose_words(notebook: Path) -> int:
    """Words in the notebook's markdown cells, their fenced code aside."""

    cells = json.loads(notebook.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return len(re.sub(r"```.*?```", "", text, flags=re.S).split())


def test_the_notebooks_prose_is_read_not_studied(tmp_path):
    assert notebook_prose_words(ROOT / "notebooks" / "mnist_cnn.ipynb") <= 1200
    padded = tmp_path / "padded.ipynb"
    cells = [{"cell_type": "markdown", "source": ["word " * 1201, "```\ncode here\n```"]}]
    padded.write_text(json.dumps({"cells": cells}))
    assert notebook_prose_words(padded) == 1201


PACKAGE_LINES = 6500  # the budget a newcomer can hold in their head (issue 47)


def test_the_package_stays_within_its_line_budget():
    lines = {path: len(path.read_text().splitlines()) for path in (ROOT / "src").rglob("*.py")}
    largest = sorted(lines, key=lines.get, reverse=True)[:3]
    assert sum(lines.values()) <= PACKAGE_LINES, (
        f"src/ holds {sum(lines.values())} lines of Python, over {PACKAGE_LINES}; the largest: "
        + ", ".join(f"{path.relative_to(ROOT)} ({lines[path]})" for path in largest))
