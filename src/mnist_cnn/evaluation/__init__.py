"""Evaluation: metrics on the test set (metrics), temperature calibration fitted on validation
(calibration), and the report's figures (plots: each takes data and returns a Figure)."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "Evaluation": "metrics", "compute_metrics": "metrics", "predict_probabilities": "metrics",
    "expected_calibration_error": "metrics", "reliability_table": "metrics",
    "per_class_accuracy": "metrics", "roc_auc_per_class": "metrics", "most_confused_pairs": "metrics",
    "summary_line": "metrics",
    "Calibration": "calibration", "calibrate": "calibration", "with_temperature": "calibration",
    "report_figures": "plots", "own_images": "plots",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
