"""The training loop: reproducibility, compilation, callbacks, the input pipeline, and `train`.

`train(config, dataset)` compiles and fits the training model (augmentation + classifier) and returns
a `TrainResult` holding the classifier with the best epoch's weights. A run killed part-way and
started again with the same `config.run_dir` goes on from its last finished epoch (see run_state).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import pandas as pd

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, one_hot, to_model_input
from mnist_cnn.io.files import disk_full_error
from mnist_cnn.keras_compat import AveragingAdam, TiesCountAsBetter
from mnist_cnn.model import build_classifier, build_model, classifier_of
from mnist_cnn.training import run_state
from mnist_cnn.training.devices import (
    Placement,
    choose_precision,
    list_gpus,
    make_strategy,
    resolve_placement,
)
from mnist_cnn.training.progress import Progress, ProgressCallback
from mnist_cnn.training.schedules import learning_rate
from mnist_cnn.training.xla import choose_xla

# the plain cross-entropy, tracked beside the loss that is optimised (label-smoothed in some profiles),
# so the validation curve and the test set's log loss are the same quantity
CROSS_ENTROPY = "cross_entropy"
SMOOTHED_LOSS = "train_loss_label_smoothed"


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
    placement: dict[str, Any] = field(default_factory=dict)  # Placement.to_dict(): where it trained
    xla: dict[str, Any] = field(default_factory=dict)  # {"on": bool, "reason": str}
    members: list[TrainResult] = field(default_factory=list)  # an ensemble's, one per network


def set_reproducible(config: Config) -> None:
    """Seed Python, NumPy and TensorFlow from the config; make TF ops deterministic if asked."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


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
    """The config's steps per call, or 1 under MirroredStrategy: Keras' multi-step loop fails there
    (TensorFlow reports a placeholder of the loop left unfed, Keras 3.15)."""
    import tensorflow as tf

    if isinstance(tf.distribute.get_strategy(), tf.distribute.MirroredStrategy):
        return 1
    return config.steps_per_execution


class AtomicModelCheckpoint(TiesCountAsBetter, keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that writes beside the target and renames, so a kill leaves the last good file.

    With save_best_only, a tie with the best so far counts as better: the later epoch is kept, as
    `run_state.best_epoch` reports it.
    """

    def __init__(self, filepath: str | Path, **kwargs: Any) -> None:
        self.final_path = Path(filepath)
        # Keras insists on the ".weights.h5" ending for weights-only checkpoints
        temp = self.final_path.with_name(f".partial-{self.final_path.name}")
        super().__init__(str(temp), **kwargs)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        Path(self.filepath).unlink(missing_ok=True)  # left by a killed process or a full disk

    def on_epoch_end(self, epoch, logs=None):
        # only a file this epoch wrote in full is promoted: a stale or half-written partial never
        # replaces the good checkpoint
        Path(self.filepath).unlink(missing_ok=True)
        try:
            super().on_epoch_end(epoch, logs)
        except Exception as err:  # a full disk names the checkpoint, not Keras' temporary
            full = disk_full_error(err, self.final_path, Path(self.filepath))
            if full is None:
                raise
            raise full from None
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)


def history_row(epoch: int, logs: dict[str, Any], label_smoothing: float) -> dict[str, float]:
    """One epoch as recorded: plain cross-entropy and accuracy, training and validation.

    Keras' own `loss` is the optimised loss; with label smoothing it is not a cross-entropy of the
    labels and is kept only under a name that says so. Without smoothing it equals `cross_entropy`.
    """
    row = {"epoch": float(epoch)}
    recorded = (CROSS_ENTROPY, "accuracy", f"val_{CROSS_ENTROPY}", "val_accuracy", "learning_rate", "seconds")
    for key in recorded:
        if key in logs:
            row[key] = float(logs[key])
    if label_smoothing and "loss" in logs:
        row[SMOOTHED_LOSS] = float(logs["loss"])
    return row


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and the epoch's seconds to the logs and keeps the whole history.

    It comes first among the callbacks, so the learning rate is the one the epoch trained with,
    before ReduceLROnPlateau changes it.
    """

    def __init__(self, config: Config, history: list[dict[str, float]]) -> None:
        super().__init__()
        self.config = config
        self.history = history
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        logs["seconds"] = time.perf_counter() - self._started
        self.history.append(history_row(epoch + 1, logs, self.config.label_smoothing))


class ResumePointSaver(keras.callbacks.Callback):
    """After each epoch, once the best checkpoint is written, saves the resume point, then reports.

    It comes last, so a run cut off after its state names epoch N also has epoch N in its best
    checkpoint. With a weight average, SwapEMAWeights has put the average in the model by then (and
    the raw weights in the optimizer): the state says so, and `run_state.load_resume_point` swaps
    them back.
    """

    def __init__(
        self,
        config: Config,
        history: list[dict[str, float]],
        run_fingerprint: dict[str, Any],
        report: Callable[[str], None] | None,
        placement: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.history = history
        self.run_fingerprint = run_fingerprint
        self.report = report
        self.placement = placement

    def on_epoch_end(self, epoch, logs=None):
        run_state.save_resume_point(
            self.model, Path(self.config.run_dir), epoch + 1, self.history, self.run_fingerprint,
            average_in_model=self.config.ema_momentum > 0, placement=self.placement,
        )
        if self.report is not None:
            self.report(format_epoch(self.history[-1], self.config.epochs))


def _tensorboard(run_dir: Path, report) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback writing to `run_dir`/tensorboard (it needs TensorFlow's summaries)."""
    if keras.backend.backend() != "tensorflow":
        if report is not None:
            report("tensorboard=true: skipped, Keras writes TensorBoard logs with TensorFlow only")
        return []
    log_dir = run_dir / "tensorboard"
    if report is not None:
        report(f"TensorBoard logs in {log_dir} (watch with: tensorboard --logdir {log_dir})")
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch")]


def format_epoch(row: dict[str, float], total_epochs: int) -> str:
    """One progress line: epoch, plain cross-entropy and accuracy, learning rate and time."""
    parts = [f"epoch {int(row['epoch']):>3}/{total_epochs}"]
    names = {CROSS_ENTROPY: "cross-entropy", "accuracy": "accuracy",
             f"val_{CROSS_ENTROPY}": "val cross-entropy", "val_accuracy": "val accuracy"}
    for key, name in names.items():
        if key in row:
            parts.append(f"{name} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.2e}")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


def without_autotuning(pipeline):
    """`pipeline` with a fixed prefetch of 2 batches and tf.data's autotuning off.

    On a 2-core CPU the autotuner's background threads took cores from the training step often enough
    to leave them idle about 3.5 s in every 12,800 images (5.1 s a pass instead of 3.6 s;
    bench/slow_mode_probe.py has the measurements).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.prefetch(2).with_options(options)


def make_datasets(config: Config, dataset: Dataset, strategy):
    """Batched tf.data pipelines for training (shuffled by the seed) and validation, not autotuned."""
    import tensorflow as tf

    train_x, val_x = to_model_input(dataset.train_x), to_model_input(dataset.val_x)
    train_y = one_hot(dataset.train_y, config.num_classes)
    val_y = one_hot(dataset.val_y, config.num_classes)
    # the profile's batch is the global batch, whatever the replicas: each takes its share, so steps
    # per epoch, the learning rate and the schedule mean on several devices what they mean on one
    batch = config.batch_size
    replicas = strategy.num_replicas_in_sync
    if batch % replicas:
        raise ValueError(f"batch_size {batch} does not split evenly over {replicas} replicas; "
                         f"choose a multiple of {replicas}")
    # whole batches only (when there is at least one): every step has one shape, so the step is
    # traced and its kernels set up once, not twice; the few images left over each epoch differ from
    # epoch to epoch, as the shuffle does
    whole = len(train_x) >= batch
    train = without_autotuning(
        tf.data.Dataset.from_tensor_slices((train_x, train_y))
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=whole)
    )
    val = without_autotuning(tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(1024))
    steps = len(train_x) // batch if whole else 1
    return train, val, steps


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
    strategy = make_strategy(config.device)
    gpus = list_gpus()
    policy, reason = choose_precision(config.precision, config.device, gpus)
    placement = resolve_placement(strategy, config.device, gpus)
    jit, jit_reason = choose_xla(config, placement)  # refuses an XLA it cannot compile, before any work
    run_fingerprint = run_state.fingerprint(
        config, dataset.checksums.get(config.train_path.name, ""), policy=policy)
    if fresh:
        run_state.clear_resume_point(run_dir, best_too=True)
    state = run_state.read_state(run_dir, run_fingerprint)  # refuses a mismatch before any work
    if report is not None:
        report(f"training on {placement.describe()} in {policy} ({reason}); "
               f"XLA {'on' if jit else 'off'} ({jit_reason})")
    setup = _Setup(strategy, placement, run_fingerprint, state, jit, progress)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        result = _train(config, dataset, report, run_dir, setup)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    result.precision, result.precision_reason = policy, reason
    result.placement = {**placement.to_dict(), "description": placement.describe()}
    result.xla = {"on": jit, "reason": jit_reason}
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


def _train(config, dataset, report, run_dir, setup: _Setup) -> TrainResult:
    set_reproducible(config)
    strategy, state = setup.strategy, setup.state
    train_data, val_data, steps = make_datasets(config, dataset, strategy)
    run_dir.mkdir(parents=True, exist_ok=True)
    with strategy.scope():
        # several replicas: Keras' batch norm with statistics over the whole global batch (the fused
        # kernel would normalise each replica's share alone and keep replica 0's moving statistics)
        model = build_model(config, synchronized=setup.placement.replicas > 1)
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
    placement = {**setup.placement.to_dict(), "description": setup.placement.describe()}
    callbacks.append(ResumePointSaver(config, history, setup.fingerprint, report, placement))
    if setup.progress is not None:  # last: an epoch's bar ends once its line is reported
        callbacks.append(ProgressCallback(setup.progress, config.epochs, steps, history))
    if config.tensorboard:
        callbacks += _tensorboard(run_dir, report)
    started = time.perf_counter()
    # a finished run (all epochs, or stopped early) whose saving failed: its weights are all it needs
    finished = bool(state and state.get("finished"))
    if done < config.epochs and not finished:
        if report is not None and not done:
            report("building the training step: the first epoch also waits while TensorFlow traces "
                   "and compiles it")
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
