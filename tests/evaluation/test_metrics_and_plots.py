"""Metrics checked against values worked out by hand; every figure renders headless to a PNG."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mnist_cnn.evaluation import metrics as ev
from mnist_cnn.evaluation import plots
from mnist_cnn.serving import run_files
from mnist_cnn.serving.predict import Prediction

# Four images, three classes. Predictions: 0 (right), 1 (right), 1 (wrong, true 2), 2 (right).
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],
        [0.2, 0.7, 0.1],
        [0.1, 0.6, 0.3],
        [0.0, 0.1, 0.9],
    ]
)
LABELS = np.array([0, 1, 2, 2])
NAMES = ("zero", "one", "two")


def test_accuracy_loss_and_errors_by_hand():
    m = ev.compute_metrics(PROBS, LABELS, NAMES)
    assert m["test_accuracy"] == 0.75 and m["errors"] == 1
    expected_loss = -(math.log(0.8) + math.log(0.7) + math.log(0.3) + math.log(0.9)) / 4
    assert m["test_loss"] == pytest.approx(expected_loss)


def test_confusion_report_and_per_class_by_hand():
    m = ev.compute_metrics(PROBS, LABELS, NAMES)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    one, two = m["per_class"]["one"], m["per_class"]["two"]
    assert one["precision"] == 0.5 and one["recall"] == 1.0 and one["f1"] == pytest.approx(2 / 3)
    assert two["precision"] == 1.0 and two["recall"] == 0.5 and two["accuracy"] == 0.5
    assert two["support"] == 2
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert m["most_confused"] == [{"true": "two", "predicted": "one", "count": 1}]


def test_roc_auc_by_hand():
    per_class, macro, _ = ev.roc_auc_per_class(LABELS, PROBS)
    # class 0: positive scores {0.8} against negatives {0.2, 0.1, 0.0}: every pair ranked right
    assert per_class[0] == 1.0
    # class 1: positive {0.7}; negatives {0.1, 0.6, 0.1}: all below 0.7
    assert per_class[1] == 1.0
    # class 2: positives {0.3, 0.9}; negatives {0.1, 0.1}: all pairs right
    assert per_class[2] == 1.0
    assert macro == 1.0
    worse = PROBS.copy()
    worse[0, 2] = 0.95  # a negative of class 2 now outranks both positives: 2 of 4 pairs wrong
    assert ev.roc_auc_per_class(LABELS, worse)[0][2] == 0.5


def test_roc_auc_of_an_absent_class_is_nan_and_skipped():
    per_class, macro, _ = ev.roc_auc_per_class(np.array([0, 1, 0]), PROBS[:3])
    # class 0: positives {0.8, 0.1} against negative {0.2}: one pair of two ranked right
    assert per_class[:2] == [0.5, 1.0]
    assert math.isnan(per_class[2]) and macro == 0.75


def test_expected_calibration_error_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    # bin of 0.9: accuracy 0.5, gap 0.4 (2 images); bin of 0.6: accuracy 1.0, gap 0.4 (2 images)
    assert ev.expected_calibration_error(probs, labels, bins=10) == pytest.approx(0.4)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert ev.expected_calibration_error(perfect, np.array([0, 1])) == 0.0


def test_write_metrics_is_json_with_nan_as_null(tmp_path):
    path = tmp_path / "models" / "metrics.json"
    run_files.write_metrics(path, {"roc_auc_macro": float("nan"), "a": np.float32(0.5)}, seed=3)
    assert json.loads(path.read_text()) == {"roc_auc_macro": None, "a": 0.5, "seed": 3}
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]


def test_report_table_has_classes_and_averages():
    evaluation = ev.Evaluation(PROBS, LABELS, NAMES, ev.compute_metrics(PROBS, LABELS, NAMES))
    table = evaluation.report_table()
    assert list(table.index) == ["zero", "one", "two", "macro avg", "weighted avg"]
    assert list(table.columns) == ["precision", "recall", "f1-score", "support"]


def png_bytes(fig: Figure, dpi: int = 40) -> bytes:
    """The figure drawn in full at a low resolution: every artist renders, in a fraction of the time."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 10
    logits = rng.normal(size=(60, 10)) + 4 * np.eye(10)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    labels = labels.copy()
    labels[:8] = (labels[:8] + 1) % 10  # eight certain mistakes
    return images, labels, probs


def all_figures(synthetic):
    images, labels, probs = synthetic
    names = tuple(str(d) for d in range(10))
    flatter = probs**0.5 / (probs**0.5).sum(axis=1, keepdims=True)
    metrics = ev.compute_metrics(probs, labels, names)
    evaluation = ev.Evaluation(probs, labels, names, metrics, uncalibrated=flatter)
    history = pd.DataFrame({"epoch": [1, 2, 3], "cross_entropy": [1.0, 0.5, 0.3],
                            "accuracy": [0.7, 0.9, 0.95],
                            "val_cross_entropy": [0.9, 0.6, 0.4], "val_accuracy": [0.8, 0.92, 0.91],
                            "train_loss_label_smoothed": [1.2, 0.8, 0.6],
                            "learning_rate": [1e-3, 5e-4, 1e-5]})
    figures = plots.report_figures(history, evaluation, images, seed=0)
    guesses = [Prediction(f"mine{i}.png", "3", 0.9, (("3", 0.9), ("5", 0.06), ("8", 0.02))) for i in range(3)]
    originals = [np.random.default_rng(i).random((40 + 10 * i, 30)) for i in range(3)]
    figures["own_images"] = plots.own_images(originals, images[:3], guesses)
    return figures


def test_every_figure_renders_headless_to_png(synthetic):
    for name, fig in all_figures(synthetic).items():
        assert isinstance(fig, Figure), name
        data = png_bytes(fig)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name


def test_reliability_diagram_shows_before_and_after_with_each_ece(synthetic):
    _, labels, probs = synthetic
    flatter = probs**0.5 / (probs**0.5).sum(axis=1, keepdims=True)
    ece = ev.expected_calibration_error(probs, labels)
    fig = plots.reliability_diagram(probs, labels, ece, before=flatter)
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    old_ece = ev.expected_calibration_error(flatter, labels)
    assert any(f"ECE {old_ece:.4f}" in t and "before" in t for t in legend)
    assert any(f"ECE {ece:.4f}" in t and "calibrated" in t for t in legend)


def test_training_curves_plot_plain_cross_entropy_and_label_the_smoothed_objective(synthetic):
    fig = all_figures(synthetic)["training_curves"]
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert "training objective (label-smoothed)" in labels and "validation" in labels
    assert fig.axes[1].get_title() == "Cross-entropy (log loss)"


@pytest.mark.parametrize("epochs", [1, 4, 16])
def test_learning_curves_count_whole_epochs(epochs):
    """A short run's epoch axis reads 1, 2, 3, 4: never 0.96 ... 1.04 or 1.5."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    history = pd.DataFrame({"epoch": range(1, epochs + 1), "accuracy": 0.9, "val_accuracy": 0.95,
                            "cross_entropy": 0.3, "val_cross_entropy": 0.2, "learning_rate": 1e-3})
    fig = plots.training_curves(history)
    FigureCanvasAgg(fig).draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
        assert ticks and all(float(tick).is_integer() for tick in ticks), ticks


def test_predictions_reach_a_keras_model_in_batches_of_one_shape():
    """However many images, a Keras model predicts batches of PREDICT_BATCH (padded): one trace each."""
    seen = []

    class Recording:
        output_shape = (None, 3)

        def make_predict_function(self):  # what marks a Keras model
            raise AssertionError("not called")

        def predict(self, inputs, batch_size=None, verbose=0):
            seen.append((len(inputs), batch_size))
            return np.tile(np.arange(3, dtype=np.float32), (len(inputs), 1)) + inputs[:, :1, 0, 0]

    images = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    for count in (1, 5):
        out = ev.predict_probabilities(Recording(), images[:count])
        assert out.shape == (count, 3) and out.dtype == np.float32
        assert np.allclose(out[:, 0], images[:count, 0, 0] / 255.0)  # each row its own image's
    assert all(n % ev.PREDICT_BATCH == 0 and b == ev.PREDICT_BATCH for n, b in seen), seen


def test_prediction_titles_are_green_when_right_and_red_when_wrong(synthetic):
    images, labels, probs = synthetic
    fig = plots.prediction_grid(images, labels, probs, tuple("0123456789"), count=60, columns=10)
    titled = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes if ax.get_title()]
    assert len(titled) == 60

    def is_right(title):
        true, predicted = title.split("\n")[0].split(" / ")
        return true.split()[1] == predicted.split()[1]

    right = [colour for title, colour in titled if is_right(title)]
    wrong = [colour for title, colour in titled if not is_right(title)]
    assert len(wrong) == int((probs.argmax(axis=1) != labels).sum())
    assert right and wrong
    assert set(right) == {plots.RIGHT} and set(wrong) == {plots.WRONG}


def test_mistakes_gallery_orders_by_confidence(synthetic):
    images, labels, probs = synthetic
    fig = plots.mistakes_gallery(images, labels, probs, tuple("0123456789"))
    confidences = [float(ax.get_title().split("\n")[1].rstrip("%")) for ax in fig.axes if ax.get_title()]
    assert confidences == sorted(confidences, reverse=True) and confidences


def test_save_figure_writes_a_png(tmp_path, synthetic):
    fig = all_figures(synthetic)["per_class_accuracy"]
    path = run_files.save_figure(fig, tmp_path / "figures", "per_class_accuracy")
    assert path.read_bytes()[:4] == b"\x89PNG"
