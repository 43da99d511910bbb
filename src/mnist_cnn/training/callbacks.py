"""The callbacks a run adds to Keras' own: a checkpoint never half-written, and the bookkeeper."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from mnist_cnn.config import Config
from mnist_cnn.io.files import disk_full_error
from mnist_cnn.keras_compat import TiesCountAsBetter
from mnist_cnn.training import run_state

# the plain cross-entropy, tracked beside the loss that is optimised (label-smoothed in some profiles),
# so the validation curve and the test set's log loss are the same quantity
CROSS_ENTROPY = "cross_entropy"
SMOOTHED_LOSS = "train_loss_label_smoothed"


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


class Bookkeeper(keras.callbacks.Callback):
    """The package's one callback, after the recipe's: the epoch's row, the resume point, progress.

    Last in the list, it saves what the others left: the checkpoint holds the epoch, and with a
    weight average SwapEMAWeights has put the average in the model (the state records that)."""

    def __init__(self, config: Config, history: list[dict[str, float]], run_fingerprint: dict[str, Any],
                 report: Callable[[str], None] | None = None, progress: Any = None,
                 placement: dict[str, Any] | None = None, average_in_model: bool = False,
                 start_epoch: Callable[[int], None] | None = None,
                 resumed_state: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.config, self.history, self.run_fingerprint = config, history, run_fingerprint
        self.report, self.progress, self.placement = report, progress, placement
        self.average_in_model, self.start_epoch = average_in_model, start_epoch
        self.resumed_state = resumed_state
        self._started, self._learning_rate = 0.0, 0.0

    def set_model(self, model):
        super().set_model(model)
        if self.progress is not None:
            self.progress.set_model(model)

    def on_train_begin(self, logs=None):
        run_state.restore_torch_generator(self.resumed_state)

    def on_epoch_begin(self, epoch, logs=None):
        if self.start_epoch is not None:  # before Keras draws the epoch's batches
            self.start_epoch(epoch)
        self._started = time.perf_counter()
        if self.progress is not None:
            self.progress.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        # the rate the last step took: a plateau callback may lower it at the epoch's end
        self._learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if self.progress is not None:
            self.progress.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = {**(logs or {}), "learning_rate": self._learning_rate,
                "seconds": time.perf_counter() - self._started}
        self.history.append(history_row(epoch + 1, logs, self.config.label_smoothing))
        run_state.save_resume_point(
            self.model, Path(self.config.run_dir), epoch + 1, self.history, self.run_fingerprint,
            average_in_model=self.average_in_model, placement=self.placement,
        )
        if self.report is not None:
            self.report(format_epoch(self.history[-1], self.config.epochs))
        if self.progress is not None:  # after the line: the bar's epoch ends once it is reported
            self.progress.on_epoch_end(epoch, logs)


def tensorboard_callbacks(run_dir: Path, report) -> list[keras.callbacks.Callback]:
    """Keras' TensorBoard callback writing to `run_dir`/tensorboard, where TensorFlow and the
    tensorboard package (which TensorFlow's summaries need) are there; otherwise one line, and none."""
    import importlib.util

    say = report if report is not None else (lambda line: None)
    if keras.backend.backend() != "tensorflow":
        say("tensorboard=true: skipped, Keras writes TensorBoard logs with TensorFlow only")
        return []
    if importlib.util.find_spec("tensorboard") is None:
        say("tensorboard=true: skipped, the tensorboard package is not installed "
            "(pip install 'mnist-cnn[tensorboard]'; Colab has it)")
        return []
    log_dir = run_dir / "tensorboard"
    say(f"TensorBoard logs in {log_dir} (watch with: tensorboard --logdir {log_dir})")
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
