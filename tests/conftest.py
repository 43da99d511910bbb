"""Shared fixtures: a small real MNIST sample, loaded once; a smoke config writing to tmp_path; and a
small model trained once per session (so tests of prediction do not hang on the committed model)."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import load_dataset

ROOT = Path(__file__).resolve().parents[1]


def load_bench_script(name: str) -> ModuleType:
    """bench/<name>.py as a module named `name`, loaded with bench/ on the path as when it runs as a
    script (the scripts import their siblings) and registered in sys.modules (a dataclass in one looks
    its module up by name)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


def pytest_addoption(parser):
    parser.addoption(
        "--runtimes", action="store_true",
        help="also run the tests that build users' runtimes (Colab's, older Keras); default: off",
    )
    parser.addoption(
        "--backends", action="store_true",
        help="also run the tests `make test-backends` runs in each Keras backend's environment; default: off",
    )


def pytest_collection_modifyitems(config, items):
    """A test that needs the session's trained model trains one: it is slow, whatever its marks say,
    so `pytest -m "not slow"` trains nothing. The runtimes tests build environments from the registries
    (minutes): they run only with --runtimes, whatever -m says; the backends tests only with --backends."""
    kept, dropped = [], []
    for item in items:
        if "trained" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        runtimes = item.get_closest_marker("runtimes") is not None
        backends = item.get_closest_marker("backends") is not None
        skip = ((runtimes and not config.getoption("--runtimes"))
                or (backends and not config.getoption("--backends")))
        (dropped if skip else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _the_fast_loop_trains_nothing(request, monkeypatch):
    """A test not marked slow that reaches the training loop fails at once, naming itself."""
    if request.node.get_closest_marker("slow") is None:
        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} trains a model but is not marked slow")

        monkeypatch.setattr("mnist_cnn.training.session.TrainingSession.training_model", refuse)


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


@dataclass
class TrainedModel:
    """A calibrated model trained in this session, in memory and saved as .keras and .h5."""

    model: object
    keras_path: Path
    h5_path: Path
    config: Config


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> TrainedModel:
    """The smoke network trained on 8,000 images for 2 epochs (about 95 % accurate, ~10 s)."""
    from mnist_cnn import pipeline

    folder = tmp_path_factory.mktemp("trained")
    config = Config.from_profile(
        "smoke", data_dir=ROOT / "data", train_limit=8000, epochs=2, models_dir=folder / "models",
        figures_dir=folder / "figures", run_dir=folder / "run",
    )
    run = pipeline.load(config)
    pipeline.fit(run)
    pipeline.calibrate_model(run)
    paths = pipeline.save_model(run.model, config)
    return TrainedModel(run.model, paths["keras"], paths["h5"], config)
