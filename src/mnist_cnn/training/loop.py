"""Training a run as the command line does it: the notebook's training cell, in a function."""

from __future__ import annotations

from collections.abc import Callable

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset
from mnist_cnn.model import build_augmentation, build_network
from mnist_cnn.training.ensemble import combine_members
from mnist_cnn.training.progress import Progress
from mnist_cnn.training.recipe import compile_network, recipe_callbacks
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.session import TrainingSession


def train(config: Config, dataset: Dataset, report: Callable[[str], None] | None = None, fresh: bool = False,
          progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Train the package's recipe, resuming a run cut off in `config.run_dir`; an ensemble in turn.

    `report` gets a line per step and epoch, `progress` a `Progress` within epochs; `fresh` discards
    an unfinished run. Raises ResumeMismatchError where run_dir holds another run's state."""
    members = []
    for member in range(config.members):  # one network; an ensemble's one after another
        with TrainingSession(config, dataset, member, report=report, progress=progress,
                             fresh=fresh) as session:
            model = session.training_model(build_network, build_augmentation)
            compile_network(model, session.config, session.learning_rate, **session.execution)
            session.resume(model)  # the last finished epoch, where a run was cut off
            callbacks = recipe_callbacks(session.config, session.best_path, session.best_so_far)
            model.fit(
                session.train_data, validation_data=session.val_data, epochs=session.config.epochs,
                initial_epoch=session.initial_epoch, callbacks=session.callbacks(callbacks),
                shuffle=False, verbose=0,  # the batches come shuffled, from the seed
            )
        members.append(session.result)
    return combine_members(members)
