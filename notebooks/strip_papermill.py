"""After `make run`: the executed notebook without papermill's traces, its parameters cell saying what ran.

Papermill adds a cell tagged `injected-parameters` after the `parameters` cell and its own metadata
to the notebook and to every cell. This folds each injected value into the matching line of the
`parameters` cell (keeping that line's comment), drops the injected cell and the papermill metadata,
and writes the notebook back in place, atomically.

Run: `python notebooks/strip_papermill.py notebooks/mnist_cnn.ipynb`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import tempfile
from pathlib import Path


def injected_values(source: str) -> dict[str, str]:
    """`name = value` assignments of papermill's injected cell, each value as its source text."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.get_source_segment(source, node.value)
    return values


def fold_into_parameters(parameters: str, values: dict[str, str]) -> str:
    """`parameters` with each `name = ...` line's value replaced by `values[name]`, its comment kept."""
    lines = parameters.split("\n")
    for name, value in values.items():
        pattern = re.compile(rf"^{re.escape(name)} = .*?(\s+#.*)?$")
        for index, line in enumerate(lines):
            match = pattern.match(line)
            if match:
                lines[index] = f"{name} = {value}{match.group(1) or ''}"
                break
        else:
            raise ValueError(f"the parameters cell has no line for the injected {name!r}")
    return "\n".join(lines)


def strip(notebook: dict) -> dict:
    cells = notebook["cells"]
    injected = [c for c in cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    parameters = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    for cell in injected:
        folded = fold_into_parameters("".join(parameters["source"]), injected_values("".join(cell["source"])))
        parameters["source"] = folded.splitlines(keepends=True)
        cells.remove(cell)
    notebook["metadata"].pop("papermill", None)
    for cell in cells:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    return notebook


def main(path: str) -> None:
    target = Path(path)
    notebook = strip(json.loads(target.read_text(encoding="utf-8")))
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    os.replace(temp, target)


if __name__ == "__main__":
    main(sys.argv[1])
