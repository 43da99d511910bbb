"""A training session: everything the package does around a recipe's `fit`, so that the notebook's
own network, compile, callbacks and `fit` run in the same tested machinery as the command line's.

Created, a session resolves the device, the precision, XLA and the resume point (a mismatch is
refused before any work). Entered, it holds the precision policy and the devices in force, and holds
what `fit` takes: the compiled training model (resumed where a run was cut off), the batches, the
epochs, the first epoch and the callbacks (the package's epoch record first, the recipe's, then the
resume point and the progress). Left without an error, it holds the network's `TrainResult`.

    with TrainingSession(config, dataset, recipe) as session:
        if session.to_train:
            recipe.fit(session.model, session.train_data, session.val_data, session.epochs,
                       session.initial_epoch, session.callbacks)
    result = session.result
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import pandas as pd

from mnist_cnn import backends
from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset
from mnist_cnn.model import classifier_of
from mnist_cnn.training import run_state
from mnist_cnn.training.callbacks import EpochRecorder, ResumePointSaver, tensorboard_callbacks
from mnist_cnn.training.devices import choose_precision, list_gpus
from mnist_cnn.training.distribute import make_strategy, resolve_placement, whole_run_scope
from mnist_cnn.training.fused_norm import build_training_model
from mnist_cnn.training.input_pipeline import make_datasets
from mnist_cnn.training.progress import Progress, ProgressCallback
from mnist_cnn.training.recipe import PACKAGE_RECIPE, Recipe, compile_model
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.xla import choose_xla


def set_reproducible(config: Config) -> str:
    """Seed Python, NumPy and the backend from the config; ask the backend for deterministic kernels
    if the config says so. Returns how determinism was asked for, in words ("off" if not)."""
    keras.utils.set_random_seed(config.seed)
    return backends.make_deterministic() if config.deterministic else "off"


@contextlib.contextmanager
def global_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to `name` for the block, and the previous one again after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def network_signature(recipe: Recipe, config: Config) -> str:
    """The classifier's layers and their settings, names aside, as text: part of the resume
    fingerprint, so a network edited in the notebook does not resume from the old one's weights."""
    import hashlib
    import json

    with global_policy("float32"):  # the layers' dtypes are in their settings
        network = recipe.network(config)
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
              for layer in network.layers]
    return hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TrainingSession:
    """One network's training, resolved on creation (device, precision, XLA, the resume point: a
    mismatch is refused before any work) and built when entered."""

    def __init__(self, config: Config, dataset: Dataset, recipe: Recipe = PACKAGE_RECIPE,
                 report: Callable[[str], None] | None = None, fresh: bool = False,
                 progress: Callable[[Progress], None] | None = None) -> None:
        self.config, self.dataset, self.recipe = config, dataset, recipe
        self.report, self.progress = report, progress
        self.run_dir = Path(config.run_dir)
        # first: JAX reads its determinism flag when it starts a device, which the lines below do
        self.determinism = set_reproducible(config)
        self.strategy = make_strategy(config.device)
        gpus = list_gpus()
        self.policy, self.policy_reason = choose_precision(config.precision, config.device, gpus)
        self.placement = resolve_placement(self.strategy, config.device, gpus)
        self.jit, self.jit_reason = choose_xla(config, self.placement)
        self.backend = backends.active()
        self.fingerprint = run_state.fingerprint(
            config, dataset.checksums.get(config.train_path.name, ""), policy=self.policy,
            backend=self.backend, network=network_signature(recipe, config))
        if fresh:
            run_state.clear_resume_point(self.run_dir, best_too=True)
        self.state = run_state.read_state(self.run_dir, self.fingerprint)  # refuses a mismatch
        self.epochs = config.epochs
        self.result: TrainResult | None = None

    # what `fit` takes, once entered: model, train_data, val_data, epochs, initial_epoch, callbacks
    def __enter__(self) -> TrainingSession:
        self._say(f"training on {self.placement.describe()} in {self.policy}: {self.policy_reason}; Keras on "
                  f"{backends.display_name(self.backend)} {backends.version(self.backend)}; XLA "
                  f"{'on' if self.jit else 'off'}: {self.jit_reason}")
        # held until the session is left: the precision policy, and (on JAX) the devices `fit` reads
        self._held = contextlib.ExitStack()
        self._held.enter_context(global_policy(self.policy))
        self._held.enter_context(whole_run_scope(self.strategy))
        try:
            self._build()
        except BaseException:
            self._held.close()
            raise
        return self

    def _build(self) -> None:
        config, state = self.config, self.state
        keras.utils.set_random_seed(config.seed)  # again: the backend's start may have drawn numbers
        first_epoch = int(state["epochs_done"]) if state else 0
        self.train_data, self.val_data, steps = make_datasets(config, self.dataset, self.strategy,
                                                              first_epoch)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.strategy.scope():
            self.model = build_training_model(config, self.placement.replicas, self.recipe.network,
                                              self.recipe.augmentation)
            compile_model(self.model, config, steps, self.jit, self.recipe)
            done, self.history = run_state.load_resume_point(self.model, self.run_dir, state)
        self.initial_epoch = done
        self.best_path = self.run_dir / run_state.BEST_CHECKPOINT
        if not done:  # a fresh run: a finished run's best checkpoint must not stand in for this one's
            self.best_path.unlink(missing_ok=True)
        if done:
            before = state["placement"].get("description")
            now = self.placement.describe()
            moved = f" (trained on {before} until now)" if before and before != now else ""
            self._say(f"resuming from {self.run_dir}: {done} of {config.epochs} epochs already done, "
                      f"{config.epochs - done} to go{moved}")
        best_so_far = max((row.get("val_accuracy", 0.0) for row in self.history), default=None)
        # the order matters: the epoch's row first; then the recipe's (SwapEMAWeights puts the weight
        # average, which validation already ran on, in the model for the checkpoint and early
        # stopping); the resume point last, once the checkpoint holds this epoch
        self.callbacks = [
            EpochRecorder(config, self.history),
            *self.recipe.callbacks(config, self.best_path, best_so_far),
            ResumePointSaver(config, self.history, self.fingerprint, self.report, self.placement.record()),
        ]
        if self.progress is not None:  # last: an epoch's bar ends once its line is reported
            self.callbacks.append(ProgressCallback(self.progress, config.epochs, steps, self.history))
        if config.tensorboard:
            self.callbacks += tensorboard_callbacks(self.run_dir, self.report)
        # a finished run (all epochs, or stopped early) whose saving failed: its weights are all it needs
        finished = bool(state and state.get("finished"))
        self.to_train = done < config.epochs and not finished
        if self.to_train and not done:
            self._say(f"building the training step: the first epoch also waits while "
                      f"{backends.display_name(self.backend)} traces and compiles it")
        self._started = time.perf_counter()

    def __exit__(self, kind, error, traceback) -> None:
        with self._held:
            if kind is None:
                self.result = self._finish()

    def _finish(self) -> TrainResult:
        # EarlyStopping restores the best weights of this session only; the checkpoint holds the best
        # of the whole run, resumed sessions included
        if self.best_path.is_file():
            self.model.load_weights(self.best_path)
        frame = pd.DataFrame(self.history)
        seconds = float(frame["seconds"].sum()) if len(frame) else time.perf_counter() - self._started
        best_epoch = run_state.best_epoch(frame["val_accuracy"]) if len(frame) else 0
        # the resume point stays until the run's artefacts are saved (pipeline.save clears it): a
        # failure in calibrating, evaluating or saving then costs a rerun of those steps only
        run_state.mark_finished(self.run_dir)
        # the artefact: the same weights in a plain classifier, built under the float32 policy (the
        # variables are float32 under every mixed policy), so it computes in float32 wherever it is
        # loaded and holds no layer of this package's (training may have used a fused batch norm)
        with global_policy("float32"):
            plain = self.recipe.network(self.config)
        plain.set_weights(classifier_of(self.model).get_weights())
        return TrainResult(
            plain, frame, seconds, len(frame), best_epoch, self.initial_epoch,
            precision=self.policy, precision_reason=self.policy_reason,
            placement=self.placement.record(), xla={"on": self.jit, "reason": self.jit_reason},
            backend={"name": self.backend, "version": backends.version(self.backend),
                     "deterministic": self.determinism},
        )

    def _say(self, line: str) -> None:
        if self.report is not None:
            self.report(line)
