"""Lazy re-exports for the subpackages' `__init__` files.

A subpackage names its public functions and classes in one table; each is imported on first use, so
`import mnist_cnn.io` stays free of TensorFlow and a layer can re-export names of a module that imports
another layer without an import cycle at package start.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

Getter = Callable[[str], object]
Lister = Callable[[], list[str]]


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Getter, Lister]:
    """`__getattr__` and `__dir__` for `package` that resolve `table`'s names (name -> submodule)."""

    def get(name: str) -> object:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        sys.modules[package].__dict__[name] = value  # later lookups skip this function
        return value

    def listing() -> list[str]:
        return sorted(set(table) | set(importlib.import_module(package).__dict__))

    return get, listing
