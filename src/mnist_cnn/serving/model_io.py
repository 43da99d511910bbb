"""Saving models that load in plain Keras, and loading that runs no stranger's code.

A saved model is the calibrated classifier alone. `load_model` checks the archive and refuses a configuration
holding code; Keras' safe mode stays on as a second guard."""

from __future__ import annotations

import contextlib
import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from mnist_cnn.config import Config
from mnist_cnn.io.errors import ModelFileError
from mnist_cnn.io.files import atomic_path, atomic_write
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits
from mnist_cnn.io.model_files import check_model_archive
from mnist_cnn.keras_compat import portable_configs

# built-in layers that carry Python code or reach outside the file
_CODE_LAYERS = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})


def save_model(model: keras.Model, config: Config) -> dict[str, Path]:
    """Write models/<name>.keras and .h5 atomically, without optimizer; return the paths by format.

    The configuration is one Keras 3.8 and newer read (`keras_compat.portable_configs`)."""
    config.models_dir.mkdir(parents=True, exist_ok=True)
    written = {"keras": config.keras_path, "h5": config.h5_path}
    for target in written.values():
        # Keras picks the format by the file name's ending, so the temporary name keeps it
        with _quiet_legacy_hdf5_notice(), portable_configs(), atomic_path(target) as partial:
            model.save(partial)
    return written


@contextlib.contextmanager
def _quiet_legacy_hdf5_notice() -> Iterator[None]:
    """Drop Keras' "HDF5 is legacy" notice while saving: the .h5 is written on purpose."""
    def notice(record: logging.LogRecord) -> bool:
        return "HDF5 file via `model.save()`" not in record.getMessage()

    absl = logging.getLogger("absl")
    absl.addFilter(notice)
    try:
        yield
    finally:
        absl.removeFilter(notice)


def save_history(history: pd.DataFrame, path: Path) -> None:
    """Every epoch's metrics, learning rate and seconds as CSV, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda h: history.to_csv(h, index=False), mode="w")


def load_model(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> keras.Model:
    """Load a .keras or .h5 model of built-in layers, running no code from it (`ModelFileError`)."""
    path = Path(path)
    check_model_archive(path, limits)  # a regular .keras or .h5 file within the caps, a sound zip
    if (code := _code_in(_read_model_config(path))) is not None:
        raise ModelFileError(
            path, f"refused: it holds {code}, and loading it would run that code. Only models made of "
            "Keras' built-in layers are loaded (a model saved by this project is one)",
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many types (ValueError, OSError, BadZipFile, KeyError...)
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ModelFileError(path, f"not a usable Keras model file ({reason})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(path, "holds a Keras object that is not a model")
    return model


def _read_model_config(path: Path) -> Any:
    """The model's architecture as JSON, read without building anything."""
    if path.suffix == ".keras":  # check_model_archive has found it a sound zip
        try:
            with zipfile.ZipFile(path) as archive:
                text = archive.read("config.json")
        except (KeyError, zipfile.BadZipFile, OSError) as err:
            raise ModelFileError(path, f"not a Keras model file (no readable config.json: {err})") from None
    else:
        import h5py

        if not h5py.is_hdf5(path):
            raise ModelFileError(path, "not a Keras model file (an .h5 file is HDF5; this is not)")
        try:
            with h5py.File(path, "r") as handle:
                text = handle.attrs.get("model_config")
        except OSError as err:
            raise ModelFileError(path, f"not a readable HDF5 file ({err})") from None
        if text is None:
            raise ModelFileError(path, "holds no model configuration (a weights-only file?)")
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        raise ModelFileError(path, "its model configuration is not valid JSON") from None


def _code_in(node: Any) -> str | None:
    """What in a model configuration would run code when loaded, in words; None when nothing does."""
    if isinstance(node, list):
        return next((found for item in node if (found := _code_in(item)) is not None), None)
    if not isinstance(node, dict):
        return None
    class_name = node.get("class_name")
    if class_name in _CODE_LAYERS:
        return f"a {class_name} layer"
    if class_name in ("__lambda__", "function") or "function_type" in node:
        return "a Python function"
    module = node.get("module")
    if isinstance(module, str) and class_name and module.split(".")[0] != "keras":
        return f"a class from outside Keras ({module}.{class_name})"
    if node.get("registered_name") and "module" in node and node.get("module") is None:
        return f"a custom class ({node['registered_name']})"
    return next((found for value in node.values() if (found := _code_in(value)) is not None), None)
