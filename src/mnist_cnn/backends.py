"""Keras' three backends: which one runs, its version, deterministic kernels, TensorFlow-only jobs.

No backend is required; where none was chosen and TensorFlow is missing, `choose_backend` takes JAX or PyTorch
on the package's import. Nothing here imports Keras at module level."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from importlib import metadata
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")  # each also the name of the distribution that carries it
_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
INSTALL_ONE = ("pip install 'mnist-cnn[tensorflow]' (the default; or [jax], or [torch] with "
               "KERAS_BACKEND=jax or torch)")


class TensorFlowRequiredError(RuntimeError):
    """A job only TensorFlow does, asked for on another backend or without TensorFlow installed."""


class NoBackendError(RuntimeError):
    """Keras has no backend to run on: none of TensorFlow, JAX and PyTorch is installed."""


def choose_backend() -> str | None:
    """Set KERAS_BACKEND to JAX or PyTorch where none was chosen and Keras' default is missing.

    keras.json is no choice: Keras writes "tensorflow" there on first run. Returns what it set."""
    chosen = "KERAS_BACKEND" in os.environ or "keras" in sys.modules
    if chosen or _installed(_configured_in_keras_json() or "tensorflow"):
        return None
    for name in ("jax", "torch"):
        if _installed(name):
            os.environ["KERAS_BACKEND"] = name
            return name
    return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _configured_in_keras_json() -> str | None:
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        backend = json.loads((home / "keras.json").read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return backend if backend in BACKENDS else None


def check_backend_installed() -> None:
    """Raise `NoBackendError` in one line where the backend Keras will load is not installed."""
    chosen = os.environ.get("KERAS_BACKEND", "").strip()
    configured = _configured_in_keras_json()
    wanted = chosen or configured or "tensorflow"
    if wanted in BACKENDS and not _installed(wanted):
        source = "KERAS_BACKEND" if chosen else ("keras.json" if configured else "its default")
        raise NoBackendError(f"Keras' backend {wanted} ({source}) is not installed: {INSTALL_ONE}")


def active() -> str:
    """The backend Keras runs on in this process."""
    import keras

    return keras.backend.backend()


def version(name: str | None = None) -> str:
    """The installed version of backend `name` (the active one by default)."""
    name = name or active()
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def display_name(name: str | None = None) -> str:
    """Backend `name` (the active one by default) as its project writes it, e.g. "PyTorch"."""
    name = name or active()
    return _NAMES.get(name, name)


def require_tensorflow(job: str) -> None:
    """Raise `TensorFlowRequiredError` saying what to install, unless Keras runs on TensorFlow."""
    backend = active()
    if backend == "tensorflow":
        return
    how = ("set KERAS_BACKEND=tensorflow" if _installed("tensorflow")
           else "pip install 'mnist-cnn[tensorflow]' and set KERAS_BACKEND=tensorflow")
    raise TensorFlowRequiredError(f"{job} needs TensorFlow, and Keras runs on {backend} here: {how}")


def make_deterministic() -> str:
    """Ask the active backend for deterministic kernels by its own means; return them in words."""
    backend = active()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return "tf.config.experimental.enable_op_determinism()"
    if backend == "jax":
        flag = "--xla_gpu_deterministic_ops=true"
        flags = os.environ.get("XLA_FLAGS", "")
        if flag not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()
        return f"XLA_FLAGS={flag} (XLA's CPU kernels are deterministic of themselves)"
    if backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        return "torch.use_deterministic_algorithms(True)"
    return f"nothing: no means known for the {backend} backend"
