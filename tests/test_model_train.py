"""The CNN and its training: shapes, augmentation, one real epoch, saving, resume, reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from mnist_cnn.config import PROFILES, Config
from mnist_cnn.data import to_model_input
from mnist_cnn.model import RandomAffine, build_model
from mnist_cnn.train import OneCycle, load_model, save_history, save_model, train
from tests.conftest import ROOT


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_builds_a_model_with_the_right_shapes(profile):
    config = Config.from_profile(profile)
    model = build_model(config)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    out = model(np.zeros((2, 28, 28, 1), "float32"), training=False)
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, rtol=1e-5)


def test_class_names_set_the_output_width():
    config = Config.from_profile("smoke", class_names=("a", "b", "c"))
    assert build_model(config).output_shape == (None, 3)


def test_augmentation_only_acts_in_training_and_fills_black():
    layer = RandomAffine(rotation=0.05, zoom=0.1, translation=0.1, seed=1)
    images = np.zeros((8, 28, 28, 1), "float32")
    images[:, 10:18, 10:18] = 1.0
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    moved = np.asarray(layer(images, training=True))
    assert not np.allclose(moved, images)
    # the frame's border was empty: a constant black fill keeps it (near) empty, a reflection would not
    assert moved[:, :2].max() < 1e-6 and moved[:, -2:].max() < 1e-6
    assert moved.min() >= 0.0


def test_zero_augmentation_is_the_identity():
    layer = RandomAffine(seed=3)
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(images, training=True)), images, atol=1e-5)


def test_one_cycle_rises_then_falls():
    schedule = OneCycle(peak=1e-2, total_steps=100, warmup=0.2)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 99)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-2, rel=1e-3)
    assert rates[2] > rates[3] > rates[4]
    assert rates[4] < 1e-3


def test_one_epoch_end_to_end_learns_saves_and_reloads(smoke_config, smoke_dataset):
    result = train(smoke_config, smoke_dataset)
    assert result.epochs_run == 1 and result.best_epoch == 1
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"} <= set(result.history)
    # ten classes: chance is 10 %; one epoch on 2,000 images must do clearly better
    assert result.history["val_accuracy"].iloc[-1] > 0.3

    paths = save_model(result.model, smoke_config)
    save_history(result.history, smoke_config.history_path)
    assert pd.read_csv(smoke_config.history_path).shape[0] == 1
    x = to_model_input(smoke_dataset.test_x[:64])
    expected = result.model.predict(x, verbose=0)
    for path in paths.values():
        assert path.suffix in (".keras", ".h5") and path.stat().st_size > 0
        np.testing.assert_allclose(load_model(path).predict(x, verbose=0), expected, atol=1e-6)
    assert not list(smoke_config.models_dir.glob(".*partial*"))


def test_same_seed_same_result(tmp_path, smoke_dataset):
    def run(name):
        config = Config.from_profile("smoke", run_dir=tmp_path / name, data_dir=ROOT / "data")
        result = train(config, smoke_dataset)
        return result.history["val_loss"].iloc[-1], result.model.get_weights()[0]

    (loss_a, weights_a), (loss_b, weights_b) = run("a"), run("b")
    assert loss_a == loss_b
    np.testing.assert_array_equal(weights_a, weights_b)


def test_several_devices_through_mirrored_strategy(tmp_path):
    # a fresh interpreter: logical devices must be set up before TensorFlow initialises
    script = textwrap.dedent(f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from mnist_cnn.config import Config
        from mnist_cnn.data import load_dataset
        from mnist_cnn.train import make_strategy, train
        config = Config.from_profile("smoke", device="mirrored", data_dir={str(ROOT / "data")!r},
                                     run_dir={str(tmp_path / "run")!r}, deterministic=False)
        assert make_strategy("mirrored").num_replicas_in_sync == 2
        result = train(config, load_dataset(config))
        print("VAL", result.history["val_accuracy"].iloc[-1])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.split("VAL")[-1]) > 0.2


def test_a_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    """Kill a real training process part-way, start it again, and check it goes on, not over."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        from mnist_cnn.config import Config
        from mnist_cnn.data import load_dataset
        from mnist_cnn.train import train
        config = Config.from_profile("smoke", epochs=4, data_dir={str(ROOT / "data")!r},
                                     run_dir={str(run_dir)!r}, train_limit=1000, val_size=200)
        def report(line):
            print(line, flush=True)
            if sys.argv[1] == "slow":
                time.sleep(60)  # gives the test time to kill us after an epoch is saved
        result = train(config, load_dataset(config), report=report)
        print("DONE", result.resumed_from_epoch, result.epochs_run, flush=True)
    """)
    first = subprocess.Popen([sys.executable, "-c", script, "slow"], stdout=subprocess.PIPE, text=True)
    line = first.stdout.readline()  # the first epoch is done and saved before its line is reported
    assert line.startswith("epoch   1/4"), line
    first.kill()
    first.wait(timeout=30)
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epochs_done"] == 1

    second = subprocess.run([sys.executable, "-c", script, "fast"], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    assert not any(line.startswith("epoch   1/4") for line in lines)
    assert any(line.startswith("epoch   2/4") for line in lines)
    assert lines[-1] == "DONE 1 4"  # resumed after epoch 1, and the history holds all four
    assert not (run_dir / "state.json").exists()  # a finished run leaves no resume point
    leftovers = [p.name for p in run_dir.rglob("*") if "partial" in p.name]
    assert leftovers == []


def test_unknown_settings_are_refused():
    with pytest.raises(ValueError, match="unknown profile"):
        Config.from_profile("fastest")
    with pytest.raises(ValueError, match="unknown settings: colour"):
        Config.from_profile("smoke", colour="red")
    with pytest.raises(ValueError, match="unknown schedule"):
        Config(schedule="linear")


def test_convs_per_block_takes_one_count_or_one_per_block():
    assert Config(conv_filters=(8, 16, 32), convs_per_block=2).convs_per_block == (2, 2, 2)
    with pytest.raises(ValueError, match="one count of at least 1 for each of the 2 blocks"):
        Config(conv_filters=(8, 16), convs_per_block=(1, 2, 2))
    model = build_model(Config.from_profile("smoke", convs_per_block=(1, 2)))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [8, 16, 16]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 2  # one per block, after its last convolution


def test_config_records_as_json():
    record = json.loads(Config.from_profile("quick", seed=7).to_json())
    assert record["seed"] == 7 and record["profile"] == "quick" and record["data_dir"] == "data"
    assert os.path.basename(record["models_dir"]) == "models"
    assert keras.__version__  # the recorded versions come from the live libraries
