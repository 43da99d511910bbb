"""What the package adds around `model.fit`: device, precision, XLA, resume point and bookkeeping.

    with TrainingSession(config, dataset, member) as session:
        model = session.training_model(build_network, build_augmentation)
        compile_network(model, session.config, session.learning_rate, **session.execution)
        session.resume(model)
        model.fit(session.train_data, validation_data=session.val_data, epochs=session.config.epochs,
                  initial_epoch=session.initial_epoch, callbacks=session.callbacks(...), ...)
    result = session.result
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from mnist_cnn import backends
from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset
from mnist_cnn.io.locks import directory_lock
from mnist_cnn.model import classifier_of
from mnist_cnn.training import run_state
from mnist_cnn.training.callbacks import Bookkeeper, tensorboard_callbacks
from mnist_cnn.training.devices import choose_precision, list_gpus
from mnist_cnn.training.distribute import make_strategy, resolve_placement, steps_per_call
from mnist_cnn.training.ensemble import member_config
from mnist_cnn.training.fused_norm import build_training_model
from mnist_cnn.training.input_pipeline import make_datasets, steps_per_epoch
from mnist_cnn.training.progress import Progress, ProgressCallback, for_member
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.schedules import learning_rate
from mnist_cnn.training.xla import choose_xla


def set_reproducible(config: Config) -> str:
    """Seed Python, NumPy and the backend; ask for deterministic kernels if the config says so."""
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


def network_signature(network: Callable[[Config], keras.Model], config: Config) -> str:
    """A hash of the classifier's layers and settings: an edited network does not resume old weights."""
    with global_policy("float32"):  # the layers' dtypes are in their settings
        built = network(config)
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
              for layer in built.layers]
    return hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TrainingSession:
    """One network's training: resolved on creation, held (policy, devices) while entered."""

    def __init__(self, config: Config, dataset: Dataset, member: int = 0,
                 report: Callable[[str], None] | None = None,
                 progress: Callable[[Progress], None] | None = None, fresh: bool = False) -> None:
        self.config = member_config(config, member)  # an ensemble's member: its own seed and folder
        self.dataset, self.report, self.fresh = dataset, report, fresh
        if progress is not None and config.members > 1:
            progress = for_member(progress, member + 1, config.members)
        self.progress = progress
        if config.members > 1:
            self._say(f"member {member + 1} of {config.members}: seed {self.config.seed}")
        # first: JAX reads its determinism flag when it starts a device, which the lines below do
        self.determinism = set_reproducible(self.config)
        self.strategy = make_strategy(self.config.device)
        gpus = list_gpus()
        self.policy, self.policy_reason = choose_precision(self.config.precision, self.config.device, gpus)
        self.placement = resolve_placement(self.strategy, self.config.device, gpus)
        self.jit, self.jit_reason = choose_xla(self.config, self.placement)
        self.backend = backends.active()
        self.run_dir = Path(self.config.run_dir)
        self.result: TrainResult | None = None

    def __enter__(self) -> TrainingSession:
        self._say(f"training on {self.placement.describe()} in {self.policy}: {self.policy_reason}; Keras on "
                  f"{backends.display_name(self.backend)} {backends.version(self.backend)}; XLA "
                  f"{'on' if self.jit else 'off'}: {self.jit_reason}")
        # held until left: the run directory, the policy, and the devices build, compile and fit use
        self._held = contextlib.ExitStack()
        self._held.enter_context(directory_lock(self.run_dir))
        self._held.enter_context(global_policy(self.policy))
        self._held.enter_context(self.strategy.scope())
        keras.utils.set_random_seed(self.config.seed)  # again: the backend's start may have drawn numbers
        self.steps = steps_per_epoch(self.config, len(self.dataset.train_x), self.placement.replicas)
        self.learning_rate = learning_rate(self.config, self.steps)
        self.execution = {"steps_per_execution": steps_per_call(self.config.steps_per_execution),
                          "jit_compile": self.jit}
        self.initial_epoch, self.history, self.model = 0, [], None
        return self

    def training_model(self, network: Callable[[Config], keras.Model],
                       augmentation: Callable[[Config], Any]) -> keras.Model:
        """`network(config)` behind `augmentation(config)`, on the session's devices and precision."""
        self._network = network
        self.model = build_training_model(self.config, self.placement.replicas, network, augmentation)
        return self.model

    def resume(self, model: keras.Model) -> None:
        """Load the last finished epoch of a run cut off in `run_dir` (refusing another run's state)."""
        self.fingerprint = run_state.fingerprint(
            self.config, self.dataset.checksums.get(self.config.train_path.name, ""), policy=self.policy,
            backend=self.backend, network=network_signature(self._network, self.config))
        if self.fresh:
            run_state.clear_resume_point(self.run_dir, best_too=True)
        self._state = state = run_state.read_state(self.run_dir, self.fingerprint)  # refuses a mismatch
        self.run_dir.mkdir(parents=True, exist_ok=True)
        done, self.history = run_state.load_resume_point(model, self.run_dir, state)
        self.best_path = self.run_dir / run_state.BEST_CHECKPOINT
        self.best_so_far = max((row.get("val_accuracy", 0.0) for row in self.history), default=None)
        epochs = self.config.epochs
        if done:
            before, now = state["placement"].get("description"), self.placement.describe()
            moved = f" (trained on {before} until now)" if before and before != now else ""
            self._say(f"resuming from {self.run_dir}: {done} of {epochs} epochs already done, "
                      f"{epochs - done} to go{moved}")
        else:  # a fresh run: a finished run's best checkpoint must not stand in for this one's
            self.best_path.unlink(missing_ok=True)
            self._say(f"building the training step: the first epoch also waits while "
                      f"{backends.display_name(self.backend)} traces and compiles it")
        # a finished run (all epochs, or stopped early) whose saving failed: its weights are all it needs
        self.initial_epoch = epochs if state and state.get("finished") else done
        self.resumed_from = done
        # the batches in the order the uninterrupted run would draw next
        self.train_data, self.val_data, _ = make_datasets(self.config, self.dataset, self.strategy, done)
        self._started = time.perf_counter()

    def callbacks(self, recipe_callbacks: list[keras.callbacks.Callback]) -> list[keras.callbacks.Callback]:
        """The recipe's callbacks, TensorBoard if asked, then the bookkeeper, which must come last."""
        averaging = any(isinstance(c, keras.callbacks.SwapEMAWeights) and c.swap_on_epoch
                        for c in recipe_callbacks)
        progress = (ProgressCallback(self.progress, self.config.epochs, self.steps, self.history)
                    if self.progress is not None else None)
        tensorboard = tensorboard_callbacks(self.run_dir, self.report) if self.config.tensorboard else []
        keeper = Bookkeeper(self.config, self.history, self.fingerprint, self.report, progress,
                            self.placement.record(), average_in_model=averaging,
                            start_epoch=self.train_data.start_at, resumed_state=self._state)
        return [*recipe_callbacks, *tensorboard, keeper]

    def __exit__(self, kind, error, traceback) -> None:
        with self._held:
            if kind is not None:
                return
            # EarlyStopping restores this session's best weights only; the checkpoint, the whole run's
            if self.best_path.is_file():
                self.model.load_weights(self.best_path)
            weights = classifier_of(self.model).get_weights()
            # the resume point stays until the artefacts are saved: a failure after costs only those
            run_state.mark_finished(self.run_dir)
        self.result = self._result(weights)

    def _result(self, weights: list) -> TrainResult:
        # the artefact, outside the devices' scope: Keras' own layers in float32 (the variables are
        # float32 under every policy)
        with global_policy("float32"):
            plain = self._network(self.config)
        plain.set_weights(weights)
        frame = pd.DataFrame(self.history)
        seconds = float(frame["seconds"].sum()) if len(frame) else time.perf_counter() - self._started
        best_epoch = run_state.best_epoch(frame["val_accuracy"]) if len(frame) else 0
        return TrainResult(
            plain, frame, seconds, len(frame), best_epoch, self.resumed_from,
            precision=self.policy, precision_reason=self.policy_reason,
            placement=self.placement.record(), xla={"on": self.jit, "reason": self.jit_reason},
            backend={"name": self.backend, "version": backends.version(self.backend),
                     "deterministic": self.determinism},
        )

    def _say(self, line: str) -> None:
        if self.report is not None:
            self.report(line)
