"""Faults injected into real `mnist-cnn train` runs: kill -9 at each stage, a disk that fills at each
write, two runs started together. After each, the same command run again finishes the run without
training again what was finished, and models/ and figures/ hold one consistent set, old or new."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# `mnist-cnn train` that SIGKILLs itself at a stage: when calibration starts (training finished),
# at the first figure written (the new set begun, nothing committed), or after the second rename of
# the switch-over (the set half switched)
KILLED_TRAIN = """
import os, signal, sys
from pathlib import Path

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

stage, argv = sys.argv[1], sys.argv[2:]
from mnist_cnn import pipeline
from mnist_cnn.serving import run_files
from mnist_cnn.io import switch
if stage == "calibrate":
    pipeline.calibrate_model = die
elif stage == "figures":
    run_files.save_figure = die
elif stage == "switch":
    real_replace, renames = os.replace, []
    def replace(source, target):
        if Path(target).name != switch.JOURNAL_NAME and any(Path(target).parent.glob(switch.JOURNAL_NAME)):
            renames.append(target)
            if len(renames) == 3:
                die()
        real_replace(source, target)
    switch.os.replace = replace
from mnist_cnn.cli import main
sys.exit(main(argv))
"""


def _train_args(tmp_path: Path, seed: int) -> list[str]:
    return ["train", "--profile", "smoke", "--seed", str(seed), "--data-dir", str(ROOT / "data"),
            "--models-dir", str(tmp_path / "models"), "--figures-dir", str(tmp_path / "figures"),
            "--run-dir", str(tmp_path / f"run-{seed}"), "--set", "train_limit=1500", "--epochs", "2"]


def _train(args: list[str], stage: str | None = None) -> subprocess.CompletedProcess:
    command = ([sys.executable, "-c", KILLED_TRAIN, stage] if stage else
               [sys.executable, "-m", "mnist_cnn.cli"]) + args
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def _digests(*folders: Path) -> dict[str, str]:
    return {f"{folder.name}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
            for folder in folders for path in sorted(folder.iterdir()) if not path.name.startswith(".")}


def _assert_one_consistent_set(tmp_path: Path, seed: int) -> None:
    """The model, history, metrics and figures all come from the finished run of `seed`, and no
    temporary or journal is left."""
    import keras
    import numpy as np

    from mnist_cnn.data.csv_files import load_csv
    from mnist_cnn.data.dataset import to_model_input

    models, figures = tmp_path / "models", tmp_path / "figures"
    assert [p.name for p in models.iterdir() if p.name.startswith(".")] in ([], [".mnist-cnn.lock"])
    assert not [p.name for p in figures.iterdir() if p.name.startswith(".")]
    metrics = json.loads((models / "metrics.json").read_text())
    assert metrics["seed"] == seed and metrics["epochs_run"] == 2
    assert len(pd.read_csv(models / "history.csv")) == 2
    images, labels = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    images, labels = images[:1000], labels[:1000]  # the smoke profile's test_limit
    keras_model = keras.saving.load_model(models / "mnist_cnn.keras")
    h5_model = keras.saving.load_model(models / "mnist_cnn.h5", compile=False)
    inputs = to_model_input(images)
    predicted = keras_model.predict(inputs, verbose=0)
    np.testing.assert_allclose(h5_model.predict(inputs, verbose=0), predicted, atol=1e-6)
    assert float((predicted.argmax(axis=1) == labels).mean()) == pytest.approx(metrics["test_accuracy"])
    assert {p.name for p in figures.iterdir()} >= {"training_curves.png", "confusion_matrix.png"}


@pytest.fixture(scope="module")
def old_set(tmp_path_factory) -> Path:
    """models/ and figures/ of a finished seed-1 run: what a killed seed-2 run must not damage."""
    folder = tmp_path_factory.mktemp("old")
    done = _train(_train_args(folder, seed=1))
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.parametrize("stage", ["calibrate", "figures", "switch"])
def test_a_run_killed_at_each_stage_is_finished_by_the_same_command(tmp_path, old_set, stage):
    for name in ("models", "figures"):
        shutil.copytree(old_set / name, tmp_path / name)
    before = _digests(tmp_path / "models", tmp_path / "figures")
    args = _train_args(tmp_path, seed=2)

    killed = _train(args, stage)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after_kill = _digests(tmp_path / "models", tmp_path / "figures")
    if stage == "switch":  # half switched: some files are new, and the journal says which are owed
        assert after_kill != before and (tmp_path / "models" / ".mnist-cnn-switch.json").exists()
    else:
        assert after_kill == before  # nothing of the old set touched

    again = _train(args)
    assert again.returncode == 0, again.stderr
    assert "2 of 2 epochs already done" in again.stdout
    assert not any(line.startswith("epoch ") for line in again.stdout.splitlines())  # nothing retrained
    _assert_one_consistent_set(tmp_path, seed=2)
    assert not (tmp_path / "run-2" / "state.json").exists()  # the run is over: its resume point goes


def test_two_runs_started_together_one_is_refused_in_one_line(tmp_path):
    args = _train_args(tmp_path, seed=3)
    command = [sys.executable, "-m", "mnist_cnn.cli", *args]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert sorted(code for code, _, _ in results) == [0, 2], results
    _, _, refusal = next(result for result in results if result[0] == 2)
    assert refusal.count("\n") == 1 and "in use by another mnist-cnn run (PID " in refusal, refusal
    _assert_one_consistent_set(tmp_path, seed=3)


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A 16 MiB tmpfs: a disk that really fills. Needs root (CI runs as root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a small tmpfs; not root here")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"could not mount a tmpfs: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_at_each_write_keeps_the_old_set_and_the_training(small_disk, tmp_path):
    """The new set is written while the old one stays, so it fails at every point of its writing;
    each time the old set and the finished training are kept, and with space freed, the same call
    finishes."""
    from mnist_cnn import pipeline
    from mnist_cnn.config import Config
    from mnist_cnn.io.errors import DiskFullError
    from mnist_cnn.io.switch import JOURNAL_NAME

    config = Config.from_profile(
        "smoke", data_dir=ROOT / "data", train_limit=1500, epochs=2, models_dir=small_disk / "models",
        figures_dir=small_disk / "figures", run_dir=tmp_path / "run",
    )
    pipeline.run(config)  # the old set
    old = _digests(config.models_dir, config.figures_dir)
    set_bytes = sum(p.stat().st_size for d in (config.models_dir, config.figures_dir) for p in d.iterdir())

    second = pipeline.load(config)
    pipeline.fit(second, fresh=True)
    pipeline.calibrate_model(second)
    pipeline.evaluate_model(second)
    figures = pipeline.report_figures(second)
    filler = small_disk / "filler"
    for share in (0.0, 0.1, 0.3, 0.5, 0.7, 0.9):
        free = shutil.disk_usage(small_disk).free
        with open(filler, "wb") as handle:
            handle.truncate(0)
            handle.write(b"\0" * max(0, free - int(share * set_bytes)))
        with pytest.raises(DiskFullError) as caught:
            pipeline.save(second, figures)
        message = str(caught.value)
        # a target (or the switch-over's journal), never a temporary
        assert str(small_disk) in message and ("/." not in message or JOURNAL_NAME in message), message
        assert _digests(config.models_dir, config.figures_dir) == old, share
        assert not [p for d in (config.models_dir, config.figures_dir) for p in d.iterdir()
                    if p.name.startswith(".") and p.name != ".mnist-cnn.lock"], share
        assert json.loads((config.run_dir / "state.json").read_text())["finished"] is True
        filler.unlink()
    pipeline.save(second, figures)
    assert _digests(config.models_dir, config.figures_dir) != old
    assert not (config.run_dir / "state.json").exists()


def test_a_disk_that_fills_during_training_loses_no_finished_epoch(small_disk, tmp_path, monkeypatch):
    """The run directory's disk fills once the first epoch is saved: the second epoch's checkpoint is
    refused as a full disk naming its target, the first epoch is kept, and the same call, with space
    freed, trains only the epochs that were left."""
    from mnist_cnn import pipeline
    from mnist_cnn.config import Config
    from mnist_cnn.io.errors import DiskFullError
    from mnist_cnn.training import run_state

    config = Config.from_profile(
        "smoke", data_dir=ROOT / "data", train_limit=1500, epochs=3, early_stopping_patience=5,
        models_dir=tmp_path / "models", figures_dir=tmp_path / "figures", run_dir=small_disk / "run",
    )
    filler, real_save = small_disk / "filler", run_state.save_resume_point

    def save_then_fill(*args, **kwargs):
        real_save(*args, **kwargs)
        if not filler.exists():
            with open(filler, "wb") as handle:
                handle.write(b"\0" * shutil.disk_usage(small_disk).free)

    monkeypatch.setattr(run_state, "save_resume_point", save_then_fill)
    with pytest.raises(DiskFullError) as caught:
        pipeline.run(config)
    assert str(config.run_dir) in str(caught.value) and "/." not in str(caught.value), caught.value
    assert json.loads((config.run_dir / "state.json").read_text())["epochs_done"] == 1
    assert not [p.name for p in config.run_dir.iterdir() if p.name.startswith(".") and "lock" not in p.name]

    monkeypatch.undo()
    filler.unlink()
    lines: list[str] = []
    done = pipeline.run(config, report=lines.append)
    assert any("1 of 3 epochs already done" in line for line in lines), lines
    assert sum(line.startswith("epoch ") for line in lines) == 2 and done.result.epochs_run == 3
