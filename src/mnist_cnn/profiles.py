"""The named training profiles: `smoke`, `quick`, `full` and `original`, each as the settings it
changes from `Config`'s defaults (which are `full`). `Config.from_profile(name)` applies one."""

from __future__ import annotations

from typing import Any

# Each profile lists only what differs from the Config defaults (config.py; they are `full`). The
# measurements behind these choices are in the README and bench/results/.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {},
    # seconds: tests, CI and the notebook's smoke run
    "smoke": {
        "train_limit": 2000,
        "val_size": 500,
        "test_limit": 1000,
        "epochs": 1,
        "batch_size": 32,
        "learning_rate": 3e-3,
        "conv_filters": (8, 16),
        "convs_per_block": 1,
        "dense_units": 32,
        "label_smoothing": 0.0,
        "ema_momentum": 0.0,
        "early_stopping_patience": 1,
    },
    # the fastest route to 99.3 %: one convolution per block, four epochs, no augmentation. 16 filters
    # first halve the float32 step's convolution work (most CPUs have no bfloat16) and, at peak 7e-3,
    # led (32, 64) at 3e-3 on validation over seeds 1-3 (bench/results/search_quick_*_avx2.json)
    "quick": {
        "conv_filters": (16, 64),
        "convs_per_block": 1,
        "epochs": 4,
        "batch_size": 192,
        "learning_rate": 7e-3,
        "augment": False,
        "label_smoothing": 0.0,
        # four epochs are too short for an average to pay (0.99 cost 0.05 points in a three-epoch trial)
        "ema_momentum": 0.0,
        "early_stopping_patience": 5,
    },
    # the original project's recipe, kept as the peer to beat, as written (float32, no project tricks);
    # its rotation is the 10 degrees of the Kaggle MNIST notebooks it descends from (`rotation_range=10`)
    "original": {
        "precision": "float32",
        "architecture": "original",
        "schedule": "plateau",
        "epochs": 50,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "rotation": 0.028,
        "padding": "same",
        "convs_per_block": 1,
        "dense_units": 256,
        "label_smoothing": 0.0,
        "ema_momentum": 0.0,
        "early_stopping_patience": 5,
        "plateau_patience": 3,
        "steps_per_execution": 1,
    },
}
