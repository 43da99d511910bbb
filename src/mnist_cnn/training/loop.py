"""The training loop: reproducibility, compilation, the callbacks in their order, and `train`.

`train(config, dataset)` compiles and fits the training model (augmentation + classifier) and returns
a `TrainResult` holding the classifier with the best epoch's weights. A run killed part-way and
started again with the same `config.run_dir` goes on from its last finished epoch (see run_state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from mnist_cnn import backends
from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset
from mnist_cnn.keras_compat import AveragingAdam
from mnist_cnn.model import build_classifier, classifier_of
from mnist_cnn.training import run_state
from mnist_cnn.training.callbacks import (
    CROSS_ENTROPY,
    AtomicModelCheckpoint,
    EpochRecorder,
    ResumePointSaver,
    tensorboard_callbacks,
)
from mnist_cnn.training.devices import Placement, choose_precision, list_gpus, resolve_placement
from mnist_cnn.training.distribute import make_strategy, multi_step_breaks, whole_run_scope
from mnist_cnn.training.fused_norm import build_training_model
from mnist_cnn.training.input_pipeline import make_datasets
from mnist_cnn.training.progress import Progress, ProgressCallback
from mnist_cnn.training.schedules import learning_rate
from mnist_cnn.training.xla import choose_xla


@dataclass
class TrainResult:
    """What a training run produced."""

    model: keras.Model  # the classifier (no augmentation) with the best epoch's weights
    history: pd.DataFrame  # one row per epoch: plain cross-entropy, accuracy, learning rate, seconds
    train_seconds: float  # wall time inside fit, summed over resumed sessions
    epochs_run: int
    best_epoch: int  # 1-based
    resumed_from_epoch: int  # 0 when the run started fresh
    precision: str = "float32"  # the Keras dtype policy it trained with
    precision_reason: str = ""
    placement: dict[str, Any] = field(default_factory=dict)  # Placement.record(): where it trained
    xla: dict[str, Any] = field(default_factory=dict)  # {"on": bool, "reason": str}
    # the backend, its version, and how determinism was asked of it ({"backend", "version", "deterministic"})
    backend: dict[str, Any] = field(default_factory=dict)
    members: list[TrainResult] = field(default_factory=list)  # an ensemble's, one per network


def set_reproducible(config: Config) -> str:
    """Seed Python, NumPy and the backend from the config; ask the backend for deterministic kernels
    if the config says so. Returns how determinism was asked for, in words ("off" if not)."""
    keras.utils.set_random_seed(config.seed)
    return backends.make_deterministic() if config.deterministic else "off"


def compile_model(
    model: keras.Model, config: Config, steps_per_epoch: int, jit_compile: bool = False
) -> None:
    """Adam with the config's schedule (and warmed-up weight average, if asked), categorical
    cross-entropy (label-smoothed if asked), accuracy; XLA as `jit_compile` says (`choose_xla`)."""
    optimizer = AveragingAdam(
        learning_rate=learning_rate(config, steps_per_epoch),
        use_ema=config.ema_momentum > 0,
        ema_momentum=config.ema_momentum or 0.99,  # Keras checks the value even when unused
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy", keras.metrics.CategoricalCrossentropy(name=CROSS_ENTROPY)],
        steps_per_execution=_steps_per_execution(config),
        jit_compile=jit_compile,
    )


def _steps_per_execution(config: Config) -> int:
    """The config's steps per call, or 1 where Keras' multi-step loop fails (`distribute`)."""
    if multi_step_breaks():
        return 1
    return config.steps_per_execution


def train(
    config: Config,
    dataset: Dataset,
    report: Callable[[str], None] | None = None,
    fresh: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> TrainResult:
    """Train a model on `dataset` as `config` says, resuming from `config.run_dir` if a run was cut off.

    `report` receives a line on where and how it trains, then one line per epoch (pass `print`);
    `progress` receives a `Progress` within each epoch and after it (a bar: `format_bar`); the library
    prints nothing of its own. `fresh` discards any unfinished run in `config.run_dir` instead of
    resuming it.

    Raises:
        ResumeMismatchError: `config.run_dir` holds an unfinished run with other settings or data.
    """
    run_dir = Path(config.run_dir)
    # first: JAX reads its determinism flag when it starts a device, which the lines below do
    determinism = set_reproducible(config)
    strategy = make_strategy(config.device)
    gpus = list_gpus()
    policy, reason = choose_precision(config.precision, config.device, gpus)
    placement = resolve_placement(strategy, config.device, gpus)
    jit, jit_reason = choose_xla(config, placement)
    backend = backends.active()
    run_fingerprint = run_state.fingerprint(
        config, dataset.checksums.get(config.train_path.name, ""), policy=policy, backend=backend)
    if fresh:
        run_state.clear_resume_point(run_dir, best_too=True)
    state = run_state.read_state(run_dir, run_fingerprint)  # refuses a mismatch before any work
    label = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}.get(backend, backend)
    if report is not None:
        report(f"training on {placement.describe()} in {policy}: {reason}; Keras on {label} "
               f"{backends.version(backend)}; XLA {'on' if jit else 'off'}: {jit_reason}")
    setup = _Setup(strategy, placement, run_fingerprint, state, jit, progress, label)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with whole_run_scope(strategy):
            result = _train(config, dataset, report, run_dir, setup)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    result.precision, result.precision_reason = policy, reason
    result.placement = placement.record()
    result.xla = {"on": jit, "reason": jit_reason}
    result.backend = {"name": backend, "version": backends.version(backend), "deterministic": determinism}
    # the artefact: the same weights in a plain classifier, built under the float32 policy (the
    # variables are float32 under every mixed policy), so it computes in float32 wherever it is loaded
    # and holds no layer of this package's (training used fused batch normalization)
    plain = build_classifier(config)
    plain.set_weights(result.model.get_weights())
    result.model = plain
    return result


@dataclass
class _Setup:
    """What `train` resolved before training: the strategy, where it runs, the fingerprint, the saved
    state (None for a fresh run) and whether XLA compiles the step."""

    strategy: Any
    placement: Placement
    fingerprint: dict[str, Any]
    state: dict[str, Any] | None
    jit_compile: bool
    progress: Callable[[Progress], None] | None = None
    backend_label: str = "TensorFlow"


def _train(config, dataset, report, run_dir, setup: _Setup) -> TrainResult:
    keras.utils.set_random_seed(config.seed)  # again: the backend's start may have drawn numbers
    strategy, state = setup.strategy, setup.state
    first_epoch = int(state["epochs_done"]) if state else 0
    train_data, val_data, steps = make_datasets(config, dataset, strategy, first_epoch)
    run_dir.mkdir(parents=True, exist_ok=True)
    with strategy.scope():
        model = build_training_model(config, setup.placement.replicas)
        compile_model(model, config, steps, jit_compile=setup.jit_compile)
        done, history = run_state.load_resume_point(model, run_dir, state)
    best_path = run_dir / run_state.BEST_CHECKPOINT
    if not done:  # a fresh run: a finished run's best checkpoint must not stand in for this one's
        best_path.unlink(missing_ok=True)
    if done and report is not None:
        before = state["placement"].get("description")
        now = setup.placement.describe()
        moved = f" (trained on {before} until now)" if before and before != now else ""
        report(f"resuming from {run_dir}: {done} of {config.epochs} epochs already done, "
               f"{config.epochs - done} to go{moved}")
    best_so_far = max((row.get("val_accuracy", 0.0) for row in history), default=None)

    # the order matters: the epoch's row first; then SwapEMAWeights puts the weight average (which
    # validation already ran on) in the model for the checkpoint and early stopping, and swaps back
    # when the next epoch begins; the resume point last, once the checkpoint holds this epoch
    callbacks: list[keras.callbacks.Callback] = [
        EpochRecorder(config, history),
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum else []),
        AtomicModelCheckpoint(
            best_path,
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
            initial_value_threshold=best_so_far,
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy",
            mode="max",
            patience=config.early_stopping_patience,
            restore_best_weights=True,
        ),
    ]
    if config.schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=config.plateau_patience, min_lr=1e-5
            )
        )
    callbacks.append(ResumePointSaver(config, history, setup.fingerprint, report, setup.placement.record()))
    if setup.progress is not None:  # last: an epoch's bar ends once its line is reported
        callbacks.append(ProgressCallback(setup.progress, config.epochs, steps, history))
    if config.tensorboard:
        callbacks += tensorboard_callbacks(run_dir, report)
    started = time.perf_counter()
    # a finished run (all epochs, or stopped early) whose saving failed: its weights are all it needs
    finished = bool(state and state.get("finished"))
    if done < config.epochs and not finished:
        if report is not None and not done:
            report(f"building the training step: the first epoch also waits while {setup.backend_label} "
                   "traces and compiles it")
        model.fit(
            train_data,
            validation_data=val_data,
            epochs=config.epochs,
            initial_epoch=done,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=0,
        )
    # EarlyStopping restores the best weights of this session only; the checkpoint holds the best
    # of the whole run, resumed sessions included
    if best_path.is_file():
        model.load_weights(best_path)
    frame = pd.DataFrame(history)
    train_seconds = float(frame["seconds"].sum()) if len(frame) else time.perf_counter() - started
    best_epoch = run_state.best_epoch(frame["val_accuracy"]) if len(frame) else 0
    # the resume point stays until the run's artefacts are saved (pipeline.save clears it): a failure
    # in calibrating, evaluating or saving then costs a rerun of those steps, not of the training
    run_state.mark_finished(run_dir)
    return TrainResult(classifier_of(model), frame, train_seconds, len(frame), best_epoch, done)
