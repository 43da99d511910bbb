"""The reviewed MNIST test-label errors: the committed list, where it applies, and how it is reported."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation import metrics as ev
from mnist_cnn.evaluation import plots
from mnist_cnn.evaluation.label_errors import (
    disputed_mask,
    is_mnist_test_set,
    label_error_record,
    read_label_errors,
)
from tests.conftest import ROOT

# Northcutt et al. 2021's list, as the issue quotes it from cleanlab/label-errors
REVIEWED = [947, 1621, 1901, 2130, 2462, 2597, 2654, 3520, 3558, 5937, 6651, 6783, 8527, 9679, 9729]


@pytest.fixture(scope="module")
def test_set():
    return load_csv(ROOT / "data" / "mnist_test.csv.gz")


def test_the_committed_list_is_the_reviewed_fifteen_and_fits_the_embedded_test_set(test_set):
    _, labels = test_set
    errors = read_label_errors()
    assert [e.index for e in errors] == REVIEWED
    for e in errors:
        assert labels[e.index] == e.given != e.suggested
        assert e.votes_given < 3 and e.votes_given + e.votes_suggested + e.votes_neither == 5


def test_marks_apply_to_mnists_test_set_only(test_set):
    _, labels = test_set
    assert is_mnist_test_set(labels)
    mask = disputed_mask(labels)
    assert mask is not None and list(np.flatnonzero(mask)) == REVIEWED
    assert disputed_mask(labels[:9999]) is None  # a subset
    assert disputed_mask(np.roll(labels, 1)) is None  # another order: the indices would point elsewhere


def test_the_record_counts_disputed_and_undisputed_mistakes_apart(test_set):
    _, labels = test_set
    mask = disputed_mask(labels)
    predictions = labels.copy()
    errors = read_label_errors()
    for e in errors[:4]:
        predictions[e.index] = e.suggested  # the model agrees with the reviewers: "wrong" by the label
    predictions[[0, 1, 2]] = (labels[[0, 1, 2]] + 1) % 10  # three plain mistakes
    record = label_error_record(predictions, labels, mask)
    assert record["disputed_labels"] == 15
    assert record["counted_wrong"] == 4 and record["predicted_as_suggested"] == 4
    assert record["undisputed_samples"] == 9985 and record["undisputed_errors"] == 3
    assert record["undisputed_accuracy"] == pytest.approx(1 - 3 / 9985)


def _probabilities_for(predictions: np.ndarray) -> np.ndarray:
    probabilities = np.full((len(predictions), 10), 0.01, dtype=np.float32)
    probabilities[np.arange(len(predictions)), predictions] = 0.91
    return probabilities


def test_the_summary_and_the_mistakes_gallery_say_which_labels_are_disputed(test_set):
    images, labels = test_set
    mask = disputed_mask(labels)
    predictions = labels.copy()
    first = read_label_errors()[0]
    predictions[first.index] = first.suggested
    predictions[5] = (labels[5] + 1) % 10
    probabilities = _probabilities_for(predictions)
    metrics = ev.compute_metrics(probabilities, labels, [str(d) for d in range(10)])
    metrics["label_errors"] = label_error_record(predictions, labels, mask)
    line = ev.summary_line(metrics)
    assert "99.98% (2 errors of 10,000)" in line
    assert "99.99% on the 9,985 images with undisputed labels (1 of the 15 disputed labels" in line
    figure = plots.mistakes_gallery(images, labels, probabilities, [str(d) for d in range(10)], disputed=mask)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert sum("label disputed" in t for t in titles) == 1 and len(titles) == 2
    assert "1 of them with a disputed label" in figure._suptitle.get_text()


def test_a_test_file_with_some_classes_only_says_so():
    labels = np.arange(500) % 5  # classes 0-4, all predicted right
    probabilities = _probabilities_for(labels)
    names = [str(d) for d in range(10)]
    metrics = ev.compute_metrics(probabilities, labels, names)
    assert metrics["classes_absent"] == ["5", "6", "7", "8", "9"]
    assert metrics["macro_f1"] == pytest.approx(1.0)  # over the five classes present, not 0.5
    assert "no test image of class 5, 6, 7, 8, 9: macro F1 and ROC AUC are over the 5 classes present" in (
        ev.summary_line(metrics))
    assert "label_errors" not in metrics and "no test image" not in ev.summary_line(
        ev.compute_metrics(_probabilities_for(np.arange(50) % 10), np.arange(50) % 10, names))
