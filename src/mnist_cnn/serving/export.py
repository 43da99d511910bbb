"""Export a trained model (SavedModel, TFLite, ONNX) through Keras' `model.export`, checked.

Each export is reloaded by its own runtime and compared with Keras before taking its final name."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_cnn import backends
from mnist_cnn.evaluation.metrics import predict_fixed
from mnist_cnn.io.native_logs import restore_native_stderr, silence_native_stderr

FORMATS: dict[str, tuple[str, str]] = {  # name -> (Keras format, file suffix or folder ending)
    "savedmodel": ("tf_saved_model", "_savedmodel"),
    "tflite": ("litert", ".tflite"),
    "onnx": ("onnx", ".onnx"),
}
# float32 through different kernels: what "predicts as the Keras model does" allows
TOLERANCE = 1e-5


class ExportError(RuntimeError):
    """An export that failed or does not predict as the Keras model does."""


def default_output(model_path: str | os.PathLike, fmt: str) -> Path:
    """Where `export` writes by default: beside the model, e.g. models/mnist_cnn.tflite."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + FORMATS[fmt][1])


def load_exported(path: str | os.PathLike, fmt: str) -> Callable[[np.ndarray], np.ndarray]:
    """Load an export with its own runtime, as a function from float32 images to probabilities."""
    path = str(path)
    if fmt == "savedmodel":
        import tensorflow as tf

        artifact = tf.saved_model.load(path)
        # the serving signature, as TF Serving calls it: by input name, on every TensorFlow version
        # (`serve` itself takes a one-element list on TensorFlow 2.16 and 2.17, a tensor on later ones)
        serving = artifact.signatures["serving_default"]
        (name,) = serving.structured_input_signature[1]

        def run_savedmodel(images: np.ndarray) -> np.ndarray:
            (output,) = serving(**{name: tf.constant(images, dtype=tf.float32)}).values()
            return output.numpy()

        return run_savedmodel
    if fmt == "tflite":
        from mnist_cnn.serving.litert import LiteRTModel

        return LiteRTModel(path).predict
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images.astype(np.float32)})[0]
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_model(model, output: str | os.PathLike, fmt: str, sample: np.ndarray | None = None) -> float:
    """Export `model` to `output` as `fmt`, checked before renaming; return the largest difference.

    Raises `ExportError` or `TensorFlowRequiredError`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    # each format goes through TensorFlow's converters here (ONNX through tf2onnx)
    backends.require_tensorflow(f"the {fmt} export")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if sample is None:
        sample = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    # a model loaded from disk has never been called, and the ONNX exporter refuses such a model
    expected = predict_fixed(model, sample)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    try:
        # the staged name carries the format's suffix: the LiteRT exporter insists on ".tflite"
        suffix = FORMATS[fmt][1]
        staged = staging / ("export" + (suffix if suffix.startswith(".") else ""))
        try:
            with _quiet_converters():
                model.export(str(staged), format=FORMATS[fmt][0], verbose=False)
        except ImportError as err:
            missing = err.name or "a missing package"
            raise ExportError(f'{fmt} export needs {missing}: pip install "mnist-cnn[export]"') from None
        except Exception as err:  # converters raise anything from ValueError to ConverterError
            raise ExportError(f"{fmt} export failed: {str(err).strip() or type(err).__name__}") from err
        try:
            with _quiet_converters():  # LiteRT announces its XNNPACK delegate on descriptor 2
                exported = load_exported(staged, fmt)(sample)
        except ImportError as err:
            raise ExportError(f"cannot check the {fmt} export: {err.name} is not installed") from None
        difference = float(np.abs(np.asarray(exported) - expected).max())
        if not difference <= TOLERANCE:
            raise ExportError(f"the {fmt} export predicts differently from the Keras model "
                              f"(largest difference {difference:.2e})")
        _replace(staged, output)
        return difference
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def _quiet_converters():
    """Silence the converters' narration on descriptor 2 and TensorFlow's logger while they run."""
    levels = {logger: logger.level for logger in map(logging.getLogger, ("tensorflow", "tf2onnx", "absl"))}
    for logger in levels:
        logger.setLevel(logging.ERROR)
    original = silence_native_stderr()
    try:
        yield
    finally:
        restore_native_stderr(original)
        for logger, level in levels.items():
            logger.setLevel(level)


def _replace(source: Path, target: Path) -> None:
    """Move `source` to `target`, replacing a file atomically or a folder after the new one is in."""
    if source.is_dir() and target.exists():
        retired = target.with_name(f".{target.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(target, retired)
        os.replace(source, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(source, target)
