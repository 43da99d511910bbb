"""A run is one transaction: training survives a failure in the steps after it, and is cleared only
once the model, history, metrics and figures are all written."""

from __future__ import annotations

import errno
import json

import pytest

from mnist_cnn import pipeline
from mnist_cnn.config import Config
from tests.conftest import ROOT


@pytest.mark.slow
def test_a_failed_save_costs_a_rerun_of_the_saving_not_of_the_training(tmp_path, monkeypatch):
    config = Config.from_profile(
        "smoke", data_dir=ROOT / "data", train_limit=1000, val_size=200, epochs=2,
        models_dir=tmp_path / "models", figures_dir=tmp_path / "figures", run_dir=tmp_path / "run",
    )

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "save_model", disk_full)
    with pytest.raises(OSError, match="No space left"):
        pipeline.run(config)
    state = json.loads((config.run_dir / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["finished"] is True
    assert not config.keras_path.exists()

    monkeypatch.undo()
    lines: list[str] = []
    done = pipeline.run(config, report=lines.append)
    assert not any(line.startswith("epoch ") for line in lines), lines  # nothing trained again
    assert any("2 of 2 epochs already done" in line for line in lines)
    assert done.result.epochs_run == 2 and config.keras_path.is_file()
    assert json.loads(config.metrics_path.read_text())["epochs_run"] == 2
    assert not (config.run_dir / "state.json").exists()  # everything written: the resume point goes
