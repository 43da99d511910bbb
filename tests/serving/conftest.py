"""Fixtures for the serving tests: the committed model (no training) and test digits it reads right."""

from __future__ import annotations

import pytest

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.serving.model_io import load_model
from tests.conftest import ROOT

COMMITTED_MODEL = ROOT / "models" / "mnist_cnn.keras"


@pytest.fixture(scope="module")
def model():
    return load_model(COMMITTED_MODEL)


@pytest.fixture(scope="module")
def test_digits(model):
    """The first 30 test images that the model gets right with at least 95 % confidence."""
    images, labels = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    probabilities = model.predict(to_model_input(images[:500]), verbose=0)
    keep = (probabilities.argmax(1) == labels[:500]) & (probabilities.max(1) > 0.95)
    assert keep.sum() >= 30, "the committed model is too weak for these tests"
    return images[:500][keep][:30], labels[:500][keep][:30]
