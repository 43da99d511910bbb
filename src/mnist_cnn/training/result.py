"""What a training run produced: the best epoch's classifier, its history, time and placement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
import pandas as pd


@dataclass
class TrainResult:
    """What a training run produced."""

    model: keras.Model  # the classifier (no augmentation) with the best epoch's weights
    history: pd.DataFrame  # one row per epoch: plain cross-entropy, accuracy, learning rate, seconds
    train_seconds: float  # wall time inside fit, summed over resumed sessions
    epochs_run: int
    best_epoch: int  # 1-based
    resumed_from_epoch: int  # 0 when the run started fresh
    precision: str = "float32"  # the Keras dtype policy it trained with
    precision_reason: str = ""
    placement: dict[str, Any] = field(default_factory=dict)  # Placement.record(): where it trained
    xla: dict[str, Any] = field(default_factory=dict)  # {"on": bool, "reason": str}
    # the backend, its version, and how determinism was asked of it ({"name", "version", "deterministic"})
    backend: dict[str, Any] = field(default_factory=dict)
    members: list[TrainResult] = field(default_factory=list)  # an ensemble's, one per network
