"""Kaggle's "Digit Recognizer" submission file for every image of an MNIST-style CSV."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.io.files import atomic_write, check_writable_target
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits


def write_submission(model, csv_path: str | os.PathLike, output: str | os.PathLike, class_names, *,
                     limits: Limits = DEFAULT_LIMITS, images: np.ndarray | None = None) -> int:
    """Predict every image of an MNIST-style CSV and write a Kaggle submission; return the rows.

    `ImageId,Label`, ImageId from 1, written atomically; a read-only `output` is refused first."""
    output = Path(output)
    check_writable_target(output)
    if images is None:
        images, _ = load_csv(csv_path, limits=limits)
    probabilities = predict_probabilities(model, images)
    class_names = tuple(class_names)
    labels = [class_names[i] for i in probabilities.argmax(axis=1)]
    lines = ["ImageId,Label", *(f"{i},{label}" for i, label in enumerate(labels, start=1))]
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda handle: handle.write("\n".join(lines) + "\n"), mode="w")
    return len(labels)
