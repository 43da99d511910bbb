"""Predict digits with a trained model: the class, its probability and the best three per image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_cnn.evaluation.metrics import predict_probabilities


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
    ranked = [tuple((class_names[i], float(row[i])) for i in np.argsort(row)[::-1][:top])
              for row in probabilities]
    return [Prediction(str(source), *best[0], best) for source, best in zip(sources, ranked, strict=True)]
