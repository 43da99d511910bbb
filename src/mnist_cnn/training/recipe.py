"""The recipe's `compile` and callbacks as Keras code, written out again in the notebook.

tests/test_recipe.py holds the notebook's cells to these (and to model.py's network), so the command
line and the notebook train the same recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from mnist_cnn.config import Config
from mnist_cnn.keras_compat import AveragingAdam
from mnist_cnn.training.callbacks import AtomicModelCheckpoint
from mnist_cnn.training.distribute import steps_per_call
from mnist_cnn.training.schedules import learning_rate


def compile_network(model: keras.Model, config: Config, learning_rate: Any, **execution: Any) -> None:
    """Adam (with a weight average if asked), cross-entropy (smoothed if asked), accuracy."""
    model.compile(
        optimizer=AveragingAdam(
            learning_rate=learning_rate,
            use_ema=config.ema_momentum > 0,
            ema_momentum=config.ema_momentum or 0.99,  # Keras checks the value even when unused
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy", keras.metrics.CategoricalCrossentropy(name="cross_entropy")],
        **execution,
    )


def recipe_callbacks(
    config: Config, checkpoint_path: Path, best_so_far: float | None = None
) -> list[keras.callbacks.Callback]:
    """The weight average for validation, the best checkpoint, early stopping, the plateau's halving."""
    callbacks = []
    if config.ema_momentum:  # validation, the checkpoint and early stopping see the weight average
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(AtomicModelCheckpoint(  # Keras' ModelCheckpoint, written beside and renamed
        checkpoint_path, monitor="val_accuracy", mode="max", save_best_only=True,
        save_weights_only=True, initial_value_threshold=best_so_far,
    ))
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.early_stopping_patience,
        restore_best_weights=True,
    ))
    if config.schedule == "plateau":  # the original recipe; the others follow a one-cycle schedule
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=config.plateau_patience, min_lr=1e-5,
        ))
    return callbacks


def compile_model(model: keras.Model, config: Config, steps_per_epoch: int,
                  jit_compile: bool = False) -> None:
    """`compile_network` with the config's schedule, for scripts that build a training model."""
    compile_network(model, config, learning_rate(config, steps_per_epoch),
                    steps_per_execution=steps_per_call(config.steps_per_execution), jit_compile=jit_compile)
