"""Ensembles: `config.members` networks of one profile, averaged in one model of built-in layers.

Member k trains with seed `seed + k - 1` in `run_dir/member-k`, resumable alone; averaging logits lets one
temperature calibrate the whole."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras

from mnist_cnn.config import Config
from mnist_cnn.constants import IMAGE_SIDE
from mnist_cnn.model import LOGITS, PROBABILITIES
from mnist_cnn.training.result import TrainResult

MEMBER_PREFIX = "member_"


def member_config(config: Config, index: int) -> Config:
    """Member `index`'s (0-based) settings: its seed and run directory; for a single network, `config`."""
    if config.members == 1:
        return config
    return dataclasses.replace(config, seed=config.seed + index, members=1,
                               run_dir=Path(config.run_dir) / f"member-{index + 1}")


def member_run_dirs(config: Config) -> list[Path]:
    """An ensemble's members' run directories (none for a single network)."""
    indices = range(config.members) if config.members > 1 else []
    return [Path(member_config(config, i).run_dir) for i in indices]


def average_members(classifiers: list[keras.Model], name: str) -> keras.Model:
    """One classifier whose logits are the mean of the members' logits, then a float32 softmax."""
    image = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    logits = []
    for index, classifier in enumerate(classifiers, start=1):
        member = keras.Model(classifier.inputs, classifier.get_layer(LOGITS).output,
                             name=f"{MEMBER_PREFIX}{index}")
        logits.append(member(image))
    mean = keras.layers.Average(name=LOGITS)(logits) if len(logits) > 1 else logits[0]
    outputs = keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES)(mean)
    return keras.Model(image, outputs, name=name)


def combine_members(members: list[TrainResult]) -> TrainResult:
    """An ensemble's result: classifiers averaged, the first member's history, summed seconds and epochs."""
    first = members[0]
    if len(members) == 1:
        return first
    model = average_members([m.model for m in members], name=first.model.name)
    return dataclasses.replace(first, model=model, train_seconds=sum(m.train_seconds for m in members),
                               epochs_run=sum(m.epochs_run for m in members), members=members)
