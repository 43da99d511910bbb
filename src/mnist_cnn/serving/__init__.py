"""Serving a trained model: saving and loading it (model_io), reading people's images and predicting
(predict), the TFLite/LiteRT runner, exports (SavedModel, TFLite, ONNX) and the draw-a-digit page."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "save_model": "model_io", "save_history": "model_io", "load_model": "model_io",
    "Prediction": "predict", "read_image": "predict", "prepare_image": "predict", "load_images": "predict",
    "predict_digits": "predict", "write_submission": "predict",
    "LiteRTModel": "litert", "load_litert_model": "litert",
    "ExportError": "export", "export_model": "export", "default_output": "export",
    "load_exported": "export",
    "DigitReader": "demo", "build_demo": "demo", "launch": "demo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
