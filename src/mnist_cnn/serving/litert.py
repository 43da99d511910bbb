"""Predictions from a .tflite file through LiteRT's interpreter, without importing TensorFlow.

`mnist-cnn predict MODEL.tflite` answers in a fraction of a second, skipping TensorFlow's ~3 s import."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnist_cnn.io.errors import ModelFileError
from mnist_cnn.io.files import check_regular_file
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits

SUFFIX = ".tflite"


class LiteRTModel:
    """A .tflite classifier with Keras' `predict` and `output_shape`, run by the LiteRT interpreter."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:  # LiteRT's interpreter: the ai-edge-litert package where installed (tf.lite's is deprecated)
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter  # noqa: N806
        self._interpreter = Interpreter(model_path=str(self.path))
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = None

    @property
    def output_shape(self) -> tuple[None, int]:
        return (None, int(self._output["shape"][-1]))

    def predict(self, inputs: np.ndarray, batch_size: int = 1000, verbose: int = 0) -> np.ndarray:
        """Probabilities for float32 inputs (N, 28, 28, 1), `batch_size` images per invocation."""
        del verbose  # Keras' signature; the interpreter prints nothing
        inputs = np.asarray(inputs, dtype=np.float32)
        starts = range(0, len(inputs), batch_size)
        outputs = [self._run(inputs[start : start + batch_size]) for start in starts]
        return np.concatenate(outputs) if outputs else np.zeros((0, self.output_shape[1]), np.float32)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._batch != batch.shape:  # resizing re-plans the graph: only when the shape changes
            self._interpreter.resize_tensor_input(self._input["index"], batch.shape)
            self._interpreter.allocate_tensors()
            self._batch = batch.shape
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()


def load_litert_model(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> LiteRTModel:
    """Open a .tflite model within `limits.model_file_bytes`; `ModelFileError` or `LimitError` if not."""
    path = Path(path)
    check_regular_file(path, "model_file_bytes", "a model file", limits=limits, error=ModelFileError)
    try:
        model = LiteRTModel(path)
    except (ValueError, RuntimeError) as err:
        raise ModelFileError(path, f"not a model LiteRT can run ({' '.join(str(err).split())})") from None
    if len(model._input["shape"]) != 4:
        raise ModelFileError(path, f"expects inputs shaped {list(model._input['shape'])}, not images")
    return model
