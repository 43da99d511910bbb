"""MNIST test images whose labels reviewers rejected (Northcutt et al. 2021), marked in an evaluation.

Only MNIST's own test set, recognised by its labels' SHA-256, gets the marks."""

from __future__ import annotations

import csv
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LABEL_ERRORS_CSV = Path(__file__).with_name("mnist_test_label_errors.csv")
# SHA-256 of the MNIST test labels as uint8 bytes, in MNIST's order (Kaggle's "MNIST in CSV" keeps it)
MNIST_TEST_LABELS_SHA256 = "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"


@dataclass(frozen=True)
class LabelError:
    """One reviewed test image: the label MNIST gives it, the one suggested, and the five votes."""

    index: int
    given: int
    suggested: int
    votes_given: int
    votes_suggested: int
    votes_neither: int


@functools.cache
def read_label_errors(path: str | Path = LABEL_ERRORS_CSV) -> tuple[LabelError, ...]:
    """The reviewed label errors, as committed (read once per process)."""
    columns = ("test_index", "given_label", "suggested_label",  # LabelError's fields, in order
               "reviewers_for_given", "reviewers_for_suggested", "reviewers_for_neither")
    with Path(path).open(newline="") as handle:
        return tuple(LabelError(*(int(row[name]) for name in columns)) for row in csv.DictReader(handle))


def is_mnist_test_set(labels: np.ndarray) -> bool:
    """Whether `labels` are MNIST's 10,000 test labels in MNIST's order."""
    labels = np.asarray(labels)
    return labels.shape == (10_000,) and hashlib.sha256(
        labels.astype(np.uint8).tobytes()).hexdigest() == MNIST_TEST_LABELS_SHA256


def disputed_mask(labels: np.ndarray) -> np.ndarray | None:
    """True at each test image with a disputed label; None when `labels` are not MNIST's test set."""
    if not is_mnist_test_set(labels):
        return None
    mask = np.zeros(len(labels), dtype=bool)
    mask[[error.index for error in read_label_errors()]] = True
    return mask


def label_error_record(predictions: np.ndarray, labels: np.ndarray, disputed: np.ndarray) -> dict[str, Any]:
    """Accuracy on the undisputed images beside how the disputed ones were scored (JSON-ready)."""
    wrong = predictions != labels
    kept = ~disputed
    errors = read_label_errors()
    return {
        "source": "Northcutt et al. 2021, cleanlab/label-errors mturk/mnist_mturk.json (fewer than 3 of 5 "
                  "reviewers accept the given label)",
        "disputed_labels": int(disputed.sum()),
        "counted_wrong": int((wrong & disputed).sum()),
        "predicted_as_suggested": int(sum(predictions[e.index] == e.suggested for e in errors)),
        "undisputed_samples": int(kept.sum()),
        "undisputed_errors": int((wrong & kept).sum()),
        "undisputed_accuracy": float(1.0 - (wrong & kept).sum() / kept.sum()),
    }
