"""Exports (SavedModel, TFLite, ONNX): each reloads and predicts as Keras; unknown formats are refused."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.serving.export import FORMATS, export_model, load_exported
from mnist_cnn.serving.model_io import load_model
from tests.serving.conftest import COMMITTED_MODEL


def _export_runtime_available(fmt: str) -> bool:
    import importlib.util

    needed = {"onnx": ["tf2onnx", "onnxruntime"], "tflite": [], "savedmodel": []}[fmt]
    return all(importlib.util.find_spec(name) is not None for name in needed)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_export_reloads_and_predicts_as_keras(tmp_path, test_digits, fmt):
    if not _export_runtime_available(fmt):
        pytest.skip(f"{fmt} export needs the export extra")
    model = load_model(COMMITTED_MODEL)  # from disk, never called: the ONNX exporter once refused that
    images = to_model_input(test_digits[0])
    output = tmp_path / f"exported{FORMATS[fmt][1]}"
    export_model(model, output, fmt, sample=images[:4])
    reloaded = load_exported(output, fmt)(images)
    np.testing.assert_allclose(reloaded, model.predict(images, verbose=0), atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [output.name]  # staging cleaned up


def test_unknown_export_format_is_refused(tmp_path, model):
    with pytest.raises(ValueError, match="unknown format"):
        export_model(model, tmp_path / "x", "pickle")
    assert list(tmp_path.iterdir()) == []
