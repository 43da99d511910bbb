"""The recipe a run trains, as Keras code: the network, its augmentation, the `compile` call, the
callbacks Keras runs between the package's own, and the `fit` call.

The notebook writes these five out in its own cells, for a student to read and edit, and trains with
them (`Recipe(build_network, augmentation, compile_network, recipe_callbacks, fit_network)`); the
command line takes the package's below. tests/test_recipe.py holds the notebook's equal to these for every
profile, so the two cannot drift apart. Everything around them (the device, the precision, the
resume point, the input, the progress) is the package's machinery (`training.session`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from mnist_cnn.config import Config
from mnist_cnn.keras_compat import AveragingAdam
from mnist_cnn.model import build_augmentation, build_classifier
from mnist_cnn.training.callbacks import CROSS_ENTROPY, AtomicModelCheckpoint
from mnist_cnn.training.distribute import steps_per_call
from mnist_cnn.training.schedules import learning_rate


def compile_network(model: keras.Model, config: Config, learning_rate: Any, **execution: Any) -> None:
    """Adam (with a warmed-up weight average if the profile asks), categorical cross-entropy
    (label-smoothed if asked), accuracy and the plain cross-entropy. `learning_rate` is the profile's
    schedule; `execution` is how the step runs on this device (steps per call, XLA)."""
    model.compile(
        optimizer=AveragingAdam(
            learning_rate=learning_rate,
            use_ema=config.ema_momentum > 0,
            ema_momentum=config.ema_momentum or 0.99,  # Keras checks the value even when unused
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy", keras.metrics.CategoricalCrossentropy(name=CROSS_ENTROPY)],
        **execution,
    )


def recipe_callbacks(
    config: Config, checkpoint_path: Path, best_so_far: float | None = None
) -> list[keras.callbacks.Callback]:
    """The seed's callbacks, in their order: the weight average swapped in for validation's choices
    (when the profile averages), the best epoch's checkpoint, early stopping, and the learning rate
    halved on a plateau (the `original` recipe; the others follow a one-cycle schedule)."""
    callbacks: list[keras.callbacks.Callback] = []
    if config.ema_momentum:
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(AtomicModelCheckpoint(
        checkpoint_path, monitor="val_accuracy", mode="max", save_best_only=True,
        save_weights_only=True, initial_value_threshold=best_so_far,
    ))
    callbacks.append(keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.early_stopping_patience,
        restore_best_weights=True,
    ))
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=config.plateau_patience, min_lr=1e-5,
        ))
    return callbacks


def fit_network(model: keras.Model, train_data: Any, val_data: Any, epochs: int, initial_epoch: int,
                callbacks: list[keras.callbacks.Callback]) -> None:
    """Keras' `fit`: `initial_epoch` is above 0 when a run resumes after a lost runtime, and
    `callbacks` hold the recipe's between the package's epoch record and its resume point."""
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        shuffle=False,  # the batches come shuffled, from the seed
        verbose=0,
    )


@dataclass(frozen=True)
class Recipe:
    """What a run trains: `network(config, norm)` builds the classifier (`norm`: the batch-norm layer,
    which training may swap for a fused one with the same weights), `augmentation(config)` the layer in
    front of it while training, `compile(model, config, learning_rate, **execution)` compiles, and
    `callbacks(config, checkpoint_path, best_so_far)` gives the recipe's callbacks, and `fit(model,
    train_data, val_data, epochs, initial_epoch, callbacks)` trains."""

    network: Callable[..., keras.Model] = build_classifier
    augmentation: Callable[[Config], Any] = build_augmentation
    compile: Callable[..., None] = compile_network
    callbacks: Callable[..., list[keras.callbacks.Callback]] = recipe_callbacks
    fit: Callable[..., None] = fit_network


PACKAGE_RECIPE = Recipe()


def compile_model(
    model: keras.Model, config: Config, steps_per_epoch: int, jit_compile: bool = False,
    recipe: Recipe = PACKAGE_RECIPE,
) -> None:
    """`recipe`'s `compile` with the config's schedule and the steps per call this device takes, as a
    training session calls it (and scripts and tests that build a training model themselves)."""
    recipe.compile(model, config, learning_rate(config, steps_per_epoch),
                   steps_per_execution=steps_per_call(config.steps_per_execution), jit_compile=jit_compile)
