"""The named training profiles: `smoke`, `quick`, `full` and `original`, each as the settings it
changes from `Config`'s defaults (which are `full`). `Config.from_profile(name)` applies one."""

from __future__ import annotations

from typing import Any

# data, model and training settings, in Config's order; the measurements behind them: bench/README.md
PROFILES: dict[str, dict[str, Any]] = {
    "full": {},
    # seconds: tests, CI and the notebook's smoke run
    "smoke": {
        "val_size": 500, "train_limit": 2000, "test_limit": 1000,
        "conv_filters": (8, 16), "convs_per_block": 1, "dense_units": 32,
        "epochs": 1, "batch_size": 32, "learning_rate": 3e-3, "label_smoothing": 0.0, "ema_momentum": 0.0,
        "early_stopping_patience": 1,
    },
    # the fastest route to 99.3 %: 16 first filters, one convolution per block, four epochs, no augmentation
    "quick": {
        "conv_filters": (16, 64), "convs_per_block": 1, "augment": False,
        "epochs": 4, "batch_size": 192, "learning_rate": 7e-3, "label_smoothing": 0.0,
        "ema_momentum": 0.0,  # four epochs are too short for a weight average to pay (bench/JOURNAL.md)
        "early_stopping_patience": 5,
    },
    # the original project's recipe, kept as the peer to beat, as written (float32, no project tricks)
    "original": {
        "architecture": "original", "convs_per_block": 1, "padding": "same", "dense_units": 256,
        "rotation": 0.028,  # 10 degrees, the `rotation_range=10` of the Kaggle notebooks it descends from
        "epochs": 50, "batch_size": 64, "learning_rate": 1e-3, "schedule": "plateau", "label_smoothing": 0.0,
        "ema_momentum": 0.0, "early_stopping_patience": 5, "steps_per_execution": 1, "plateau_patience": 3,
        "precision": "float32",
    },
}
