"""Training: device strategy, learning-rate schedules, callbacks, resume after a lost runtime, saving.

`train(config, dataset)` compiles and fits the model and returns a `TrainResult`. A run killed part-way
and started again with the same `config.run_dir` goes on from its last finished epoch: after every
epoch the weights (optimizer state included) and the history so far are written beside their final
names and renamed into place, so a kill at any moment leaves the previous complete state.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from mnist_cnn.config import Config
from mnist_cnn.data import Dataset, InputFileError, atomic_write, one_hot, to_model_input
from mnist_cnn.model import build_model

STATE_FILE = "state.json"
BEST_CHECKPOINT = "best.keras"


@keras.saving.register_keras_serializable(package="mnist_cnn")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over the first `warmup` fraction of steps, then cosine decay to ~0.

    Computed from the optimizer's step counter, so a resumed run picks up where it stopped.
    """

    def __init__(self, peak: float, total_steps: int, warmup: float = 0.2, floor: float = 1e-3):
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup = float(warmup)
        self.floor = float(floor)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = max(1.0, self.warmup * self.total_steps)
        rise = self.peak * (0.1 + 0.9 * step / warm)
        progress = keras.ops.clip((step - warm) / max(1.0, self.total_steps - warm), 0.0, 1.0)
        fall = self.peak * (
            self.floor + (1 - self.floor) * 0.5 * (1 + keras.ops.cos(math.pi * progress))
        )
        return keras.ops.where(step < warm, rise, fall)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup": self.warmup,
            "floor": self.floor,
        }


@dataclass
class TrainResult:
    """What a training run produced."""

    model: keras.Model
    history: pd.DataFrame  # one row per epoch: metrics, learning rate, seconds
    train_seconds: float  # wall time inside fit, summed over resumed sessions
    epochs_run: int
    best_epoch: int  # 1-based
    resumed_from_epoch: int  # 0 when the run started fresh

    def record(self, config: Config, dataset: Dataset) -> dict[str, Any]:
        """The run's context, stored beside its metrics: timing, seed, settings, versions, data."""
        return {
            "train_seconds": round(self.train_seconds, 1),
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "seed": config.seed,
            "profile": config.profile,
            "device": device_description(),
            "versions": library_versions(),
            "data_checksums": dataset.checksums,
            "config": config.to_dict(),
        }


def set_reproducible(config: Config) -> None:
    """Seed Python, NumPy and TensorFlow from the config; make TF ops deterministic if asked."""
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def make_strategy(device: str = "auto"):
    """A tf.distribute strategy for "auto", "cpu", "gpu", "mirrored" or "tpu".

    "auto" takes a TPU where one is attached (Colab), several GPUs through MirroredStrategy, and
    otherwise the default strategy (one GPU if present, else the CPU).
    """
    import tensorflow as tf

    if device == "tpu" or (device == "auto" and _tpu_present()):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if device == "mirrored" or (device == "auto" and len(gpus) > 1):
        replicas = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(replicas)
    if device == "gpu":
        if not gpus:
            raise RuntimeError("device='gpu' was asked for, but TensorFlow sees no GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0])
    if device == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    return tf.distribute.get_strategy()


def _tpu_present() -> bool:
    # Colab's TPU runtimes announce themselves so; asking the resolver elsewhere can wait on a
    # metadata server that this machine cannot reach
    return (
        bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"))
        or Path("/dev/accel0").exists()
    )


def compile_model(model: keras.Model, config: Config, steps_per_epoch: int) -> None:
    """Adam with the config's schedule, categorical cross-entropy, accuracy."""
    if config.schedule == "onecycle":
        rate = OneCycle(config.learning_rate, steps_per_epoch * config.epochs)
    elif config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            config.learning_rate * 0.1,
            decay_steps=steps_per_epoch * config.epochs,
            warmup_target=config.learning_rate,
            warmup_steps=steps_per_epoch,
        )
    else:
        rate = config.learning_rate  # ReduceLROnPlateau lowers it
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that writes beside the target and renames, so a kill leaves the last good file."""

    def __init__(self, filepath: str | Path, **kwargs: Any) -> None:
        self.final_path = Path(filepath)
        temp = self.final_path.with_name(f".{self.final_path.stem}.partial{self.final_path.suffix}")
        super().__init__(str(temp), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if os.path.exists(self.filepath):
            os.replace(self.filepath, self.final_path)


class EpochRecorder(keras.callbacks.Callback):
    """Adds the learning rate and epoch seconds to the logs, keeps the whole history, and after each
    epoch saves weights + history atomically (the resume point), then reports one line."""

    def __init__(
        self,
        run_dir: Path,
        total_epochs: int,
        history: list[dict[str, float]],
        report: Callable[[str], None] | None,
    ) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.total_epochs = total_epochs
        self.history = history
        self.report = report
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        )
        logs["seconds"] = time.perf_counter() - self._started
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        self.history.append(row)
        save_resume_point(self.model, self.run_dir, epoch + 1, self.history)
        if self.report is not None:
            self.report(format_epoch(row, self.total_epochs))


def format_epoch(row: dict[str, float], total_epochs: int) -> str:
    """One progress line: epoch, metrics, learning rate and time."""
    parts = [f"epoch {int(row['epoch']):>3}/{total_epochs}"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if key in row:
            parts.append(f"{key} {row[key]:.4f}")
    parts.append(f"lr {row['learning_rate']:.2e}")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


def save_resume_point(model: keras.Model, run_dir: Path, epochs_done: int, history: list) -> None:
    """Weights (with optimizer state) and history after `epochs_done` epochs, each file atomic.

    The weights go to a new file named for the epoch; only then does state.json point at it, so
    the state never names weights that are not completely written.
    """
    backup = run_dir / "backup"
    backup.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epochs_done:04d}.weights.h5"
    partial = backup / f".partial-{name}"
    model.save_weights(partial)
    os.replace(partial, backup / name)
    state = {"epochs_done": epochs_done, "weights": name, "history": history}
    atomic_write(run_dir / STATE_FILE, lambda h: h.write(json.dumps(state, indent=1)), mode="w")
    for old in backup.glob("epoch-*.weights.h5"):
        if old.name != name:
            old.unlink()


def load_resume_point(model: keras.Model, run_dir: Path) -> tuple[int, list[dict[str, float]]]:
    """Restore the last finished epoch's weights into the compiled `model`: (epochs done, history)."""
    state_file = run_dir / STATE_FILE
    if not state_file.is_file():
        return 0, []
    state = json.loads(state_file.read_text())
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(run_dir / "backup" / state["weights"])
    return int(state["epochs_done"]), list(state["history"])


def clear_resume_point(run_dir: Path) -> None:
    """Forget a finished run's resume state, so the next run with this run_dir starts fresh."""
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    for old in (run_dir / "backup").glob("*.weights.h5"):
        old.unlink()


def make_datasets(config: Config, dataset: Dataset, strategy):
    """Batched tf.data pipelines for training (shuffled by the seed) and validation."""
    import tensorflow as tf

    train_x, val_x = to_model_input(dataset.train_x), to_model_input(dataset.val_x)
    train_y = one_hot(dataset.train_y, config.num_classes)
    val_y = one_hot(dataset.val_y, config.num_classes)
    batch = config.batch_size * strategy.num_replicas_in_sync
    train = (
        tf.data.Dataset.from_tensor_slices((train_x, train_y))
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    val = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(1024).prefetch(tf.data.AUTOTUNE)
    return train, val, math.ceil(len(train_x) / batch)


def train(
    config: Config, dataset: Dataset, report: Callable[[str], None] | None = None
) -> TrainResult:
    """Train a model on `dataset` as `config` says, resuming from `config.run_dir` if a run was cut off.

    `report` receives one line per epoch (pass `print` to see progress); the library prints nothing
    of its own.
    """
    set_reproducible(config)
    strategy = make_strategy(config.device)
    train_data, val_data, steps = make_datasets(config, dataset, strategy)
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with strategy.scope():
        model = build_model(config)
        compile_model(model, config, steps)
    done, history = load_resume_point(model, run_dir)
    if not done:  # a fresh run: a finished run's best checkpoint must not stand in for this one's
        (run_dir / BEST_CHECKPOINT).unlink(missing_ok=True)
    if done and report is not None:
        report(f"resuming from {run_dir}: {done} of {config.epochs} epochs already done")
    best_so_far = max((row.get("val_accuracy", 0.0) for row in history), default=None)

    checkpoint = AtomicModelCheckpoint(
        run_dir / BEST_CHECKPOINT,
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        initial_value_threshold=best_so_far,
    )
    callbacks: list[keras.callbacks.Callback] = [
        EpochRecorder(run_dir, config.epochs, history, report),
        checkpoint,
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
    started = time.perf_counter()
    if done < config.epochs:
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
    if (run_dir / BEST_CHECKPOINT).is_file():
        model.load_weights(run_dir / BEST_CHECKPOINT)
    frame = pd.DataFrame(history)
    train_seconds = float(frame["seconds"].sum()) if len(frame) else time.perf_counter() - started
    best_epoch = int(frame.loc[frame["val_accuracy"].idxmax(), "epoch"]) if len(frame) else 0
    clear_resume_point(run_dir)
    return TrainResult(model, frame, train_seconds, len(frame), best_epoch, done)


def save_model(model: keras.Model, config: Config) -> dict[str, Path]:
    """Write models/<name>.keras, then models/<name>.h5, each beside its final name then renamed.

    The .keras file comes first: saving .h5 drops the optimizer from the model's compile config.
    """
    config.models_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, target in (("keras", config.keras_path), ("h5", config.h5_path)):
        partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        model.save(partial)
        os.replace(partial, target)
        written[key] = target
    return written


def save_history(history: pd.DataFrame, path: Path) -> None:
    """Every epoch's metrics, learning rate and seconds as CSV, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda h: history.to_csv(h, index=False), mode="w")


class ModelFileError(InputFileError):
    """A model file that is missing or is not a Keras model, with its path and the reason."""


def load_model(path: str | Path) -> keras.Model:
    """Load a saved .keras or .h5 model (this package's custom layers included).

    Raises:
        ModelFileError: the file is missing, has another extension, or does not hold a Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(path, "is a directory, not a model file" if path.is_dir() else "file not found")
    if path.suffix not in (".keras", ".h5"):
        raise ModelFileError(path, "not a model file: expected a .keras or .h5 file")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelFileError(path, "not a Keras model file (a .keras file is a zip archive; this is not)")
    if path.suffix == ".h5":
        import h5py

        if not h5py.is_hdf5(path):
            raise ModelFileError(path, "not a Keras model file (an .h5 file is HDF5; this is not)")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types (ValueError, OSError, BadZipFile, KeyError...)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(path, f"not a Keras model file ({reason[:200]})") from None
    if not isinstance(model, keras.Model):
        raise ModelFileError(path, "holds a Keras object that is not a model")
    return model


def library_versions() -> dict[str, str]:
    """Versions of what shaped the result, recorded beside it."""
    import sklearn
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def device_description() -> str:
    """What the run trained on, in words."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"CPU ({os.cpu_count()} cores)"
