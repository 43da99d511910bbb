"""Serving a trained model: saving and loading it (model_io), predicting (predict), Kaggle submission
files (submission), the TFLite/LiteRT runner, exports (SavedModel, TFLite, ONNX) and the draw-a-digit
page. People's own images are read and prepared in `mnist_cnn.data.images`."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "save_model": "model_io", "save_history": "model_io", "load_model": "model_io",
    "write_metrics": "run_files", "save_figure": "run_files", "figure_path": "run_files",
    "json_safe": "run_files",
    "Prediction": "predict", "predict_digits": "predict", "write_submission": "submission",
    "LiteRTModel": "litert", "load_litert_model": "litert",
    "ExportError": "export", "export_model": "export", "default_output": "export",
    "load_exported": "export",
    "DigitReader": "demo", "build_demo": "demo", "launch": "demo",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
