"""Training a run: `train(config, dataset, recipe=...)` trains one network, or an ensemble's networks
one after another, each in a `TrainingSession` that calls the recipe's `fit`, and returns the run's
`TrainResult`. The command line trains the package's recipe; the notebook passes its own
(`training.recipe`). A run killed part-way and started again with the same `config.run_dir` goes on
from its last finished epoch (see run_state).
"""

from __future__ import annotations

from collections.abc import Callable

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset
from mnist_cnn.training.ensemble import combine_members, member_config
from mnist_cnn.training.progress import Progress, for_member
from mnist_cnn.training.recipe import PACKAGE_RECIPE, Recipe, compile_model
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.session import TrainingSession, set_reproducible

__all__ = ["TrainResult", "compile_model", "set_reproducible", "train"]


def train(
    config: Config,
    dataset: Dataset,
    report: Callable[[str], None] | None = None,
    fresh: bool = False,
    progress: Callable[[Progress], None] | None = None,
    recipe: Recipe = PACKAGE_RECIPE,
) -> TrainResult:
    """Train `recipe` (the package's network, compile, callbacks and fit by default) on `dataset` as
    `config` says, resuming from `config.run_dir` if a run was cut off. With `config.members` above
    1, the members train one after another (member k with seed + k - 1, in run_dir/member-k) and the
    result averages them; `result.members` holds each one's.

    `report` receives a line on where and how it trains, then one line per epoch (pass `print`);
    `progress` receives a `Progress` within each epoch and after it (a bar: `format_bar`); the library
    prints nothing of its own. `fresh` discards any unfinished run in `config.run_dir` instead of
    resuming it.

    Raises:
        ResumeMismatchError: `config.run_dir` holds an unfinished run with other settings or data.
    """
    count = config.members
    if count == 1:
        return _train_network(config, dataset, report, fresh, progress, recipe)
    members = []
    for index in range(count):
        settings = member_config(config, index)
        if report is not None:
            report(f"member {index + 1} of {count}: seed {settings.seed}")
        sink = for_member(progress, index + 1, count) if progress is not None else None
        members.append(_train_network(settings, dataset, report, fresh, sink, recipe))
    return combine_members(members)


def _train_network(config, dataset, report, fresh, progress, recipe: Recipe) -> TrainResult:
    with TrainingSession(config, dataset, recipe, report, fresh, progress) as session:
        if session.to_train:
            recipe.fit(session.model, session.train_data, session.val_data, session.epochs,
                       session.initial_epoch, session.callbacks)
    return session.result
