"""The checks every `Config` passes before any work: each setting's type and range, the class names.

A refused setting is a `ConfigError`: one line naming it, shown as that line in a notebook too."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

PATHS = ("data_dir", "models_dir", "figures_dir", "run_dir")
# the least value of each counted setting
LEAST = {"epochs": 1, "batch_size": 1, "steps_per_execution": 1, "members": 1, "val_size": 0, "seed": 0,
         "train_limit": 1, "test_limit": 1, "early_stopping_patience": 0, "plateau_patience": 0,
         "dense_units": 0, "rotation": 0, "zoom": 0, "translation": 0}


class ConfigError(ValueError):
    """A setting refused, in one line naming it (a notebook shows that line, not a traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"ConfigError: {self}"]


def class_names_of(names: Any) -> tuple[str, ...]:
    """Distinct class names as a tuple; a JSON list given as text (papermill's -p) is read as one."""
    how = ("class_names: expected a list of at least two distinct names, e.g. [\"cat\", \"dog\"]"
           " (papermill: -y 'class_names: [...]')")
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except ValueError:
            raise ConfigError(f"{how}; got the text {names[:40]!r}") from None
    if not isinstance(names, list | tuple) or len(names) < 2:
        raise ConfigError(f"{how}; got {names!r}")
    if any(isinstance(n, bool) or not isinstance(n, str | int) or not str(n).strip() for n in names):
        raise ConfigError(f"{how}; got {names!r}")
    names = tuple(str(n) for n in names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"class_names: {', '.join(map(repr, repeated))} given twice; each class needs "
                          "its own name")
    return names


def check_types(config: Any) -> None:
    """Refuse, naming it, the first setting whose value is not of its setting's type."""
    for field in dataclasses.fields(config):
        name, value, default = field.name, getattr(config, field.name), field.default
        if not field.init or name == "class_names" or (value is None and (default is None or name in PATHS)):
            continue
        ints = isinstance(value, list | tuple) and all(_whole(v) for v in value)
        if name in PATHS:
            ok, what = isinstance(value, str | os.PathLike), "a folder path"
        elif name in ("conv_filters", "convs_per_block"):
            ok, what = ints or (name == "convs_per_block" and _whole(value)), "a list of whole numbers"
        elif isinstance(default, bool):
            ok, what = isinstance(value, bool), "True or False"
        elif isinstance(default, float):
            ok, what = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        elif isinstance(default, int) or name in ("train_limit", "test_limit"):
            ok, what = _whole(value), "a whole number"
        else:
            ok, what = isinstance(value, str), "text"
        if not ok:
            raise ConfigError(f"{name}={value!r}: expected {what}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_ranges(config: Any) -> None:
    """Refuse, naming it, the first counted or fractional setting out of its range."""
    for name, low in LEAST.items():
        if getattr(config, name) is not None and getattr(config, name) < low:
            raise ConfigError(f"{name}={getattr(config, name)!r}: must be at least {low}")
    if min(config.conv_filters, default=0) < 1 or not config.learning_rate > 0:
        raise ConfigError("conv_filters needs at least one block of 1 filter or more, learning_rate > 0")
    if not 0 <= config.label_smoothing < 1 or not 0 <= config.dropout < 1:
        raise ConfigError("label_smoothing and dropout must be in [0, 1)")
