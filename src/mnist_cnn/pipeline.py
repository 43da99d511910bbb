"""One training run from a `Config`, step by step: load, train, calibrate, evaluate, report, save.

`run(config)` is `mnist-cnn train`; the notebook calls the same steps one section at a time."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, load_dataset, to_model_input
from mnist_cnn.evaluation import metrics as ev
from mnist_cnn.evaluation import plots
from mnist_cnn.evaluation.calibration import Calibration, calibrate
from mnist_cnn.evaluation.corruptions import corruption_record
from mnist_cnn.io.errors import CSVFormatError
from mnist_cnn.io.files import remove_stale_temporaries
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits
from mnist_cnn.io.locks import directory_lock
from mnist_cnn.io.switch import finish_switch_over, switch_over
from mnist_cnn.serving import run_files
from mnist_cnn.serving.model_io import save_history, save_model
from mnist_cnn.training.devices import cpu_description, device_description
from mnist_cnn.training.ensemble import member_config, member_run_dirs
from mnist_cnn.training.loop import train
from mnist_cnn.training.onednn import onednn_state
from mnist_cnn.training.progress import Progress
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.run_state import clear_resume_point
from mnist_cnn.training.work import result_work


@dataclass
class Run:
    """Everything one run produced, filled in step by step."""

    config: Config
    dataset: Dataset
    result: TrainResult | None = None
    model: keras.Model | None = None  # the calibrated classifier: what is saved and used
    calibration: Calibration | None = None
    evaluation: ev.Evaluation | None = None
    written: list[Path] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, Any]:
        return self.evaluation.metrics if self.evaluation is not None else {}


def load(config: Config, limits: Limits = DEFAULT_LIMITS, report: Callable[[str], None] | None = None) -> Run:
    """Read and split the config's CSVs within `limits`; the test CSV needs labels to score the run."""
    if report is not None:
        report(f"reading {config.train_path} and {config.test_path}: every cell is checked")
    dataset = load_dataset(config, limits=limits)
    if dataset.test_y is None:
        raise CSVFormatError(config.test_path,
                             "the test CSV has no label column, so the run cannot be scored")
    return Run(config, dataset)


def fit(run: Run, report: Callable[[str], None] | None = None, fresh: bool = False,
        progress: Callable[[Progress], None] | None = None) -> TrainResult:
    """Train or resume the package's recipe on `run`'s data (`training.loop.train`)."""
    run.result = train(run.config, run.dataset, report=report, fresh=fresh, progress=progress)
    return run.result


def calibrate_model(run: Run) -> Calibration:
    """Fit the temperature on the validation split (never the test split) and fold it into the model."""
    val_x, val_y = to_model_input(run.dataset.val_x), run.dataset.val_y
    run.model, run.calibration = calibrate(run.result.model, val_x, val_y, fitted_on="validation")
    return run.calibration


def evaluate_model(run: Run) -> ev.Evaluation:
    """Every metric of the calibrated model on the test set, with the calibration's before and after,
    and its accuracy under each of MNIST-C's corruptions of the test set."""
    dataset, config = run.dataset, run.config
    run.evaluation = ev.evaluate(run.model, dataset.test_x, dataset.test_y, config.class_names)
    run.evaluation.metrics.update(corruption_record(run.model, dataset.test_x, dataset.test_y))
    if run.result.members:
        run.evaluation.metrics["members"] = member_records(run)
    if run.calibration is not None:
        before = ev.predict_probabilities(run.result.model, dataset.test_x)
        run.evaluation.uncalibrated, after = before, run.evaluation.probabilities
        metrics = run.evaluation.metrics
        metrics["calibration"] = calibration_record(run.calibration, before, after, dataset.test_y)
    return run.evaluation


def member_records(run: Run) -> list[dict[str, Any]]:
    """Each ensemble member alone: seed, epochs, validation and test accuracy."""
    records = []
    for index, member in enumerate(run.result.members):
        probabilities = ev.predict_probabilities(member.model, run.dataset.test_x)
        records.append({
            "seed": member_config(run.config, index).seed,
            "epochs_run": member.epochs_run,
            "best_epoch": member.best_epoch,
            "train_seconds": round(member.train_seconds, 1),
            "val_accuracy": float(member.history["val_accuracy"].iloc[member.best_epoch - 1]),
            "test_accuracy": float((probabilities.argmax(axis=1) == run.dataset.test_y).mean()),
        })
    return records


def calibration_record(calibration: Calibration, before: np.ndarray, after: np.ndarray,
                       labels: np.ndarray) -> dict[str, Any]:
    """The temperature and what it did: log loss on validation, ECE and log loss on the test set."""
    return {
        "temperature": calibration.temperature,
        "fitted_on": f"{calibration.fitted_on} ({calibration.samples} images)",
        "validation_log_loss_before": calibration.log_loss_before,
        "validation_log_loss_after": calibration.log_loss_after,
        "test_ece_before": ev.expected_calibration_error(before, labels),
        "test_ece_after": ev.expected_calibration_error(after, labels),
        "test_log_loss_before": ev.log_loss(before, labels),
        "test_log_loss_after": ev.log_loss(after, labels),
        "predictions_changed": int((before.argmax(axis=1) != after.argmax(axis=1)).sum()),
    }


def record(run: Run) -> dict[str, Any]:
    """The run's context, stored beside its metrics: timing, seed, settings, versions, data."""
    result, config = run.result, run.config
    return {
        "loss_definition": "test_loss and every recorded cross-entropy are plain categorical "
        "cross-entropy (log loss); the label-smoothed training objective is recorded only as "
        "train_loss_label_smoothed in history.csv",
        "train_seconds": round(result.train_seconds, 1),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        # multiply-adds per image, images each network saw, and their product (training/work.py)
        "work": result_work(result, len(run.dataset.train_x), config.batch_size),
        "seed": config.seed,
        "profile": config.profile,
        "device": device_description(),
        "cpu": cpu_description(),
        "precision": {"policy": result.precision, "reason": result.precision_reason},
        # where it trained as resolved: kind, name, compute capability, replicas
        "placement": result.placement,
        "xla": result.xla,
        # the Keras backend, its version, and how determinism was asked of it
        "backend": result.backend,
        "onednn_kernels": onednn_state(),
        "versions": library_versions(),
        "data_checksums": run.dataset.checksums,
        "config": config.to_dict(),
    }


def save(run: Run, figures: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write the model, history.csv, metrics.json and `figures` as one set; return the model paths.

    A kill or full disk leaves the previous set whole (`io.switch`); then the resume point is cleared."""
    config, figures = run.config, figures or {}
    figure_paths = [run_files.figure_path(config.figures_dir, name) for name in figures]
    with directory_lock(config.run_dir), directory_lock(config.models_dir):
        finish_switch_over(config.models_dir)  # a killed run's committed set first, then its debris
        for target in (config.keras_path, config.h5_path, config.history_path, config.metrics_path,
                       *figure_paths):
            remove_stale_temporaries(target)
        with switch_over(config.models_dir):
            paths = save_model(run.model, config)
            save_history(run.result.history, config.history_path)
            run_files.write_metrics(config.metrics_path, run.metrics, **record(run))
            for name, figure in figures.items():
                run_files.save_figure(figure, config.figures_dir, name)
        run.written += [*paths.values(), config.history_path, config.metrics_path, *figure_paths]
        for run_dir in [Path(config.run_dir), *member_run_dirs(config)]:
            clear_resume_point(run_dir)
    return paths


def report_figures(run: Run) -> dict[str, Any]:
    """Every figure of the run's report, by the name it is saved under."""
    return plots.report_figures(run.result.history, run.evaluation, run.dataset.test_x, seed=run.config.seed)


def run(config: Config, report: Callable[[str], None] | None = None, fresh: bool = False,
        limits: Limits = DEFAULT_LIMITS, progress: Callable[[Progress], None] | None = None) -> Run:
    """A whole training run: load, train, calibrate, evaluate, save, and write every figure.

    `report` receives one line at a time, `progress` a `Progress` within each epoch."""
    say = report if report is not None else (lambda line: None)
    # both folders held from the start: a second run is refused before it loads anything
    with directory_lock(config.run_dir), directory_lock(config.models_dir):
        finish_switch_over(config.models_dir)  # what a killed run committed, before anything is read
        current = load(config, limits=limits, report=report)
        say(f"profile {config.profile}, seed {config.seed}, {config.epochs} epochs; "
            f"data {current.dataset.summary()}")
        fit(current, report=report, fresh=fresh, progress=progress)
        calibration = calibrate_model(current)
        say(f"calibrated on the validation split: temperature {calibration.temperature:.3f}")
        evaluate_model(current)
        save(current, report_figures(current))  # last: it clears the resume point once all is in place
    return current


def library_versions() -> dict[str, str]:
    """Versions of what shaped the result, recorded beside it: the backend Keras runs on among them."""
    import pandas as pd
    import scipy
    import sklearn

    from mnist_cnn import backends

    name = backends.active()
    return {
        "python": platform.python_version(),
        "backend": name,
        name: backends.version(name),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,  # the corruptions' filters and warps
        "platform": platform.platform(),
    }
