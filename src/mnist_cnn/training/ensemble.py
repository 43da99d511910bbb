"""Ensembles: `config.members` networks of one profile, averaged in one model of built-in layers.

Member k (from 1) trains as a single network would (`training.loop.train` goes through them), with
seed `config.seed + k - 1`, in its own run directory (`run_dir/member-k`), so each is resumable on
its own: a lost runtime loses at most one member's epoch, and finished members are loaded, not
trained again. Every member trains on the same
split (the dataset is loaded once, with `config.seed`), so the validation images that choose each
member's epoch and the ensemble's temperature are held out from every member.

The saved model takes the image, runs each member up to its logits, and averages them (a built-in
`Average` layer named `logits`); the temperature and the softmax follow as for one network. Averaging
logits is a geometric mean of the members' probabilities, renormalised: one temperature then
calibrates the whole, and the file loads in plain Keras and exports to TFLite and ONNX as a single
network does.
"""

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
    """The settings of member `index` (0-based): its seed and its own run directory."""
    return dataclasses.replace(config, seed=config.seed + index, members=1,
                               run_dir=Path(config.run_dir) / f"member-{index + 1}")


def member_run_dirs(config: Config) -> list[Path]:
    return [Path(member_config(config, i).run_dir) for i in range(config.members)]


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
    """An ensemble's result from its members' (in order): their classifiers averaged; the history, best
    epoch and precision of the first member (its curves are the ones shown); train seconds and epochs
    summed over the members."""
    first = members[0]
    model = average_members([m.model for m in members], name=first.model.name)
    return dataclasses.replace(
        first, model=model, train_seconds=sum(m.train_seconds for m in members),
        epochs_run=sum(m.epochs_run for m in members), members=members,
    )
