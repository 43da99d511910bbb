"""Shared fixtures: a small real MNIST sample, loaded once, and a smoke config writing to tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_cnn.config import Config
from mnist_cnn.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_dataset():
    return load_dataset(Config.from_profile("smoke", data_dir=ROOT / "data"))


@pytest.fixture
def smoke_config(tmp_path) -> Config:
    return Config.from_profile(
        "smoke",
        data_dir=ROOT / "data",
        models_dir=tmp_path / "models",
        figures_dir=tmp_path / "figures",
        run_dir=tmp_path / "run",
    )
