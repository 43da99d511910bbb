"""Predictions and metrics, apart from any plotting: accuracy, report, confusion, ROC AUC, calibration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.evaluation.label_errors import disputed_mask, label_error_record

# images converted to float at a time: 4,096 take 13 MB as model input, where 60,000 would take 188 MB
PREDICT_CHUNK = 4096
# every batch a Keras model predicts holds this many images, the last padded with blank ones: one shape,
# traced once however many images come (and no retracing warning in a notebook of several models)
PREDICT_BATCH = 128


def predict_fixed(model, inputs: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """`model.predict` of float model inputs in batches of one shape (Keras models; others as they are)."""
    count = len(inputs)
    if hasattr(model, "make_predict_function") and count % batch_size:
        blank = np.zeros((batch_size - count % batch_size, *inputs.shape[1:]), dtype=inputs.dtype)
        inputs = np.concatenate([inputs, blank])
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0))[:count]


def predict_probabilities(model, images: np.ndarray, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Class probabilities (N, classes) for uint8 images (N, 28, 28), converted a chunk at a time."""
    chunks = [predict_fixed(model, to_model_input(images[start : start + PREDICT_CHUNK]), batch_size)
              for start in range(0, len(images), PREDICT_CHUNK)]
    if not chunks:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the sample-weighted mean gap between confidence and accuracy over equal-width bins."""
    table = reliability_table(probabilities, labels, bins)
    total = table["count"].sum()
    gaps = np.abs(table["accuracy"] - table["confidence"]) * table["count"]
    return float(np.nansum(gaps) / total) if total else 0.0


def reliability_table(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Per confidence bin: its edges, count, mean confidence and accuracy (NaN where empty)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # right-closed bins, so a confidence of exactly 1.0 falls in the last one
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct.astype(float), minlength=bins) / count
    return {"edges": edges, "count": count, "confidence": mean_conf, "accuracy": accuracy}


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix (rows: true class)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(matrix) / matrix.sum(axis=1)


def roc_auc_per_class(labels: np.ndarray, probabilities: np.ndarray) -> tuple[list[float], float, float]:
    """One-vs-rest AUC per class, their macro mean (absent classes skipped), and the micro average."""
    from sklearn.metrics import roc_auc_score  # here, not at the top: see compute_metrics

    classes = probabilities.shape[1]
    onehot = np.eye(classes)[labels]
    # a class every label or no label has gives no AUC
    per_class = [float(roc_auc_score(onehot[:, c], probabilities[:, c]))
                 if 0 < onehot[:, c].sum() < len(labels) else float("nan") for c in range(classes)]
    macro = float(np.nanmean(per_class)) if not np.all(np.isnan(per_class)) else float("nan")
    micro = float(roc_auc_score(onehot.ravel(), probabilities.ravel()))
    return per_class, macro, micro


def most_confused_pairs(matrix: np.ndarray, class_names, top: int = 10) -> list[dict[str, Any]]:
    """Off-diagonal cells of the confusion matrix, largest first: true, predicted, count."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    cells = [np.unravel_index(flat, off.shape) for flat in np.argsort(off, axis=None)[::-1][:top]]
    return [{"true": class_names[true], "predicted": class_names[pred], "count": int(off[true, pred])}
            for true, pred in cells if off[true, pred] > 0]


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean plain categorical cross-entropy of the true class (no label smoothing): the log loss."""
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float(-np.log(picked).mean())


@dataclass
class Evaluation:
    """Probabilities, predictions and the metrics computed from them."""

    probabilities: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)
    uncalibrated: np.ndarray | None = None  # the probabilities before temperature scaling, if any
    disputed: np.ndarray | None = None  # True at test images whose label reviewers dispute (MNIST's only)

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confusion(self) -> np.ndarray:
        return np.asarray(self.metrics["confusion_matrix"])

    def report_table(self):
        """The classification report as a pandas DataFrame (classes, then macro/weighted avg)."""
        import pandas as pd

        report = self.metrics["classification_report"]
        rows = {k: v for k, v in report.items() if k != "accuracy"}
        return pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]


def compute_metrics(probabilities: np.ndarray, labels: np.ndarray, class_names) -> dict[str, Any]:
    """Every metric of the evaluation, JSON-ready."""
    # imported here: scikit-learn takes about a second to import, and `predict_probabilities`, which
    # `mnist-cnn predict` uses, must not pay for it
    from sklearn.metrics import classification_report, confusion_matrix

    class_names = tuple(class_names)
    classes = list(range(len(class_names)))
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, labels=classes)
    report = classification_report(labels, predictions, labels=classes, target_names=list(class_names),
                                   output_dict=True, zero_division=0)
    per_class_auc, macro_auc, micro_auc = roc_auc_per_class(labels, probabilities)
    present = [name for name in class_names if report[name]["support"] > 0]
    return {
        "test_accuracy": float((predictions == labels).mean()),
        "test_loss": log_loss(probabilities, labels),
        "test_samples": len(labels),
        "errors": int((predictions != labels).sum()),
        # over the classes the labels hold: a class with no test image has no F1 to average in
        "macro_f1": float(np.mean([report[name]["f1-score"] for name in present])) if present else 0.0,
        "classes_absent": [name for name in class_names if name not in present],
        "per_class": {
            name: {"precision": float(report[name]["precision"]), "recall": float(report[name]["recall"]),
                   "f1": float(report[name]["f1-score"]), "support": int(report[name]["support"]),
                   "accuracy": float(per_class_accuracy(matrix)[i]), "roc_auc": per_class_auc[i]}
            for i, name in enumerate(class_names)
        },
        "roc_auc_macro": macro_auc,
        "roc_auc_micro": micro_auc,
        "ece": expected_calibration_error(probabilities, labels),
        "confusion_matrix": matrix.tolist(),
        "most_confused": most_confused_pairs(matrix, class_names),
        "classification_report": report,
    }


def evaluate(model, images: np.ndarray, labels: np.ndarray, class_names) -> Evaluation:
    """Predict `images` with `model` and compute every metric against `labels`."""
    probabilities = predict_probabilities(model, images)
    labels = np.asarray(labels)
    metrics = compute_metrics(probabilities, labels, class_names)
    disputed = disputed_mask(labels)
    if disputed is not None:
        metrics["label_errors"] = label_error_record(probabilities.argmax(axis=1), labels, disputed)
    return Evaluation(probabilities, labels, tuple(class_names), metrics, disputed=disputed)


def summary_line(metrics: dict[str, Any]) -> str:
    """The run's headline numbers in one line, as the notebook and the command line print them."""
    line = (
        f"test accuracy {metrics['test_accuracy']:.2%} ({metrics['errors']} errors of "
        f"{metrics['test_samples']:,}), log loss {metrics['test_loss']:.4f}, macro F1 "
        f"{metrics['macro_f1']:.4f}, macro ROC AUC {metrics['roc_auc_macro']:.6f}, ECE {metrics['ece']:.4f}"
    )
    disputed = metrics.get("label_errors")
    if disputed:
        line += (f"; {disputed['undisputed_accuracy']:.2%} on the {disputed['undisputed_samples']:,} images "
                 f"with undisputed labels ({disputed['counted_wrong']} of the {disputed['disputed_labels']} "
                 "disputed labels counted as errors)")
    absent = metrics.get("classes_absent")
    if absent:
        present = len(metrics["per_class"]) - len(absent)
        line += (f"; no test image of class {', '.join(absent)}: macro F1 and ROC AUC are over the "
                 f"{present} classes present")
    return line
