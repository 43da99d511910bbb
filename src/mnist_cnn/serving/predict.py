"""Predict digits with a trained model: the class, its probability and the best three; Kaggle's file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.io.files import atomic_write, check_writable_target
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one image: the class, its probability, and the best three."""

    source: str
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        others = ", ".join(f"{name} {p:.1%}" for name, p in self.top)
        return f"{self.source}: {self.label} ({self.confidence:.1%}; top 3: {others})"


def predict_digits(model, images: np.ndarray, class_names, sources: list[str] | None = None,
                   top: int = 3) -> list[Prediction]:
    """Predict uint8 (N, 28, 28) images: one `Prediction` each."""
    probabilities = predict_probabilities(model, images)
    class_names = tuple(class_names)
    sources = sources if sources is not None else [f"#{i + 1}" for i in range(len(images))]
    # stable: on a tie the lower class comes first, as argmax has it
    ranked = [tuple((class_names[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top])
              for row in probabilities]
    return [Prediction(str(source), label=best[0][0], confidence=best[0][1], top=best)
            for source, best in zip(sources, ranked, strict=True)]


def write_submission(model, csv_path: str | os.PathLike, output: str | os.PathLike, class_names, *,
                     limits: Limits = DEFAULT_LIMITS, images: np.ndarray | None = None) -> int:
    """Write Kaggle's "Digit Recognizer" submission for every image of an MNIST-style CSV; return the rows.

    `ImageId,Label`, ImageId from 1, written atomically; a read-only `output` is refused first."""
    output = Path(output)
    check_writable_target(output)
    if images is None:
        images, _ = load_csv(csv_path, limits=limits)
    labels = [prediction.label for prediction in predict_digits(model, images, class_names)]
    lines = ["ImageId,Label", *(f"{i},{label}" for i, label in enumerate(labels, start=1))]
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda handle: handle.write("\n".join(lines) + "\n"), mode="w")
    return len(labels)
