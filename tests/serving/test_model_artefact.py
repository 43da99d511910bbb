"""The model a user takes away: loads in plain Keras, calibrated probabilities, and no code from a file."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from mnist_cnn.cli import main
from mnist_cnn.config import Config
from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.evaluation.calibration import fit_temperature, softmax, temperature_log_loss, with_temperature
from mnist_cnn.model import build_network
from mnist_cnn.serving.model_io import ModelFileError, load_model
from tests.conftest import ROOT

TEST_CSV = ROOT / "data" / "mnist_test.csv.gz"


def test_saved_files_load_in_plain_keras_without_this_package(tmp_path, trained):
    """A fresh interpreter that cannot import mnist_cnn loads both files and predicts as the model does."""
    images, _ = load_csv(TEST_CSV)
    inputs = to_model_input(images[:1000])
    np.save(tmp_path / "inputs.npy", inputs)
    expected = trained.model.predict(inputs, verbose=0)
    script = textwrap.dedent("""
        import sys
        sys.modules["mnist_cnn"] = None  # any attempt to import this package fails
        import keras, numpy as np
        inputs = np.load("inputs.npy")
        for name in sys.argv[1:]:
            model = keras.saving.load_model(name)
            np.save(name + ".npy", model.predict(inputs, verbose=0))
    """)
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(trained.keras_path), str(trained.h5_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for path in (trained.keras_path, trained.h5_path):
        got = np.load(f"{path}.npy")
        assert np.abs(got - expected).max() <= 1e-6, path.name


def test_saved_model_is_the_classifier_with_its_temperature(trained):
    model = load_model(trained.keras_path)
    names = [layer.name for layer in model.layers]
    assert names[-3:] == ["logits", "temperature", "probabilities"]
    assert not any("augment" in name for name in names)  # the training-only warp stays behind
    assert getattr(model, "optimizer", None) is None
    # neither file carries an optimizer or its schedule: that state stays in the run directory
    import zipfile

    with zipfile.ZipFile(trained.keras_path) as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        assert b"optimizer" not in archive.read("config.json").lower()
    h5_bytes = trained.h5_path.read_bytes()
    assert b"OneCycle" not in h5_bytes and b"RandomAffine" not in h5_bytes


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 3, size=(20000, 10))
    labels = np.array([rng.choice(10, p=row) for row in softmax(true_logits)])
    # a model that is twice as confident as it should be: its logits are the true ones times 2
    fitted = fit_temperature(true_logits * 2.0, labels)
    assert fitted == pytest.approx(2.0, rel=0.05)
    overconfident = true_logits * 2
    loss = [temperature_log_loss(overconfident, labels, t) for t in (fitted, 1.0)]
    assert loss[0] < loss[1]


def test_temperature_changes_probabilities_but_no_prediction():
    config = Config.from_profile("smoke")
    classifier = build_network(config)
    inputs = np.random.default_rng(1).random((64, 28, 28, 1)).astype("float32")
    plain = classifier.predict(inputs, verbose=0)
    for temperature in (0.3, 2.5):
        scaled = with_temperature(classifier, temperature)
        calibrated = scaled.predict(inputs, verbose=0)
        np.testing.assert_array_equal(calibrated.argmax(1), plain.argmax(1))
        logits_model = keras.Model(classifier.inputs, classifier.get_layer("logits").output)
        logits = logits_model.predict(inputs, verbose=0)
        np.testing.assert_allclose(calibrated, softmax(logits, temperature), atol=1e-5)
    # a second temperature replaces the first rather than compounding it
    twice = with_temperature(with_temperature(classifier, 0.5), 2.0)
    np.testing.assert_allclose(twice.predict(inputs, verbose=0),
                               with_temperature(classifier, 2.0).predict(inputs, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        with_temperature(classifier, -1.0)
    assert math.isfinite(fit_temperature(np.zeros((5, 10)), np.arange(5)))


def _model_with_code(path, marker) -> None:
    """A small model whose Lambda layer would write `marker` when the model is built or called."""
    code = f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]"
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Lambda(eval(code))(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # building it here ran the lambda once


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_model_file_with_code_is_refused_by_every_command_and_nothing_runs(tmp_path, capsys, suffix):
    marker = tmp_path / "marker.txt"
    evil = tmp_path / f"evil{suffix}"
    _model_with_code(evil, marker)
    digit = tmp_path / "digit.png"
    from PIL import Image

    Image.fromarray(load_csv(TEST_CSV)[0][0]).save(digit)
    commands = [["evaluate", evil, TEST_CSV], ["predict", evil, digit],
                ["export", evil, "--format", "tflite"]]
    for argv in commands:
        status = main(["--tf-logs", *map(str, argv)])
        err = capsys.readouterr().err.strip()
        assert status == 2, argv
        assert len(err.splitlines()) == 1 and str(evil) in err and "Lambda layer" in err, err
        assert err.endswith("(a model saved by this project is one)")  # the whole reason, not cut short
        assert not marker.exists(), f"{argv[0]} ran the file's code"
    with pytest.raises(ModelFileError, match="Lambda"):
        load_model(evil)
    assert not marker.exists()


@pytest.mark.slow  # a fresh process starts TensorFlow
def test_committed_model_loads_in_plain_keras_and_both_files_agree(tmp_path):
    """The files in models/, as a user takes them away: plain Keras, no mnist_cnn, right answers."""
    images, labels = load_csv(TEST_CSV)
    np.save(tmp_path / "inputs.npy", to_model_input(images[:1000]))
    script = textwrap.dedent("""
        import sys
        sys.modules["mnist_cnn"] = None
        import keras, numpy as np
        inputs = np.load("inputs.npy")
        for name in sys.argv[1:]:
            model = keras.saving.load_model(name, compile=False)
            np.save(name.replace("/", "_") + ".npy", model.predict(inputs, verbose=0))
    """)
    files = [str(ROOT / "models" / "mnist_cnn.keras"), str(ROOT / "models" / "mnist_cnn.h5")]
    done = subprocess.run([sys.executable, "-I", "-c", script, *files], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    keras_out, h5_out = (np.load(tmp_path / (name.replace("/", "_") + ".npy")) for name in files)
    assert np.abs(keras_out - h5_out).max() <= 1e-6
    assert (keras_out.argmax(axis=1) == labels[:1000]).mean() >= 0.99
