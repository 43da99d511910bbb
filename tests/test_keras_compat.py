"""The one module that reaches into Keras: each piece does what training needs in this Keras.

`make test-keras-matrix` runs this file under every Keras the dependency floor allows (3.13.2, 3.14.0)
besides the project's own.
"""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

from mnist_cnn.keras_compat import (
    AveragingAdam,
    portable_configs,
    renormalises,
    weight_average_pairs,
)
from mnist_cnn.serving.model_io import save_model
from mnist_cnn.training.callbacks import AtomicModelCheckpoint
from mnist_cnn.training.run_state import best_epoch

NEWER_THAN_KERAS_3_8 = ("renorm", "input_axes", "output_axes", "quantization_config")


def small_model() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def test_saved_configurations_hold_no_argument_keras_3_8_lacks(smoke_config):
    model = small_model()
    paths = save_model(model, smoke_config)
    with zipfile.ZipFile(paths["keras"]) as archive:
        text = archive.read("config.json").decode()
    import h5py

    with h5py.File(paths["h5"], "r") as handle:
        text += handle.attrs["model_config"]
    assert not [key for key in NEWER_THAN_KERAS_3_8 if f'"{key}"' in text]
    assert '"momentum": 0.9' in text and "GlorotUniform" in text  # the rest is as Keras writes it


def test_portable_configs_leaves_get_config_as_it_was_and_keeps_values_that_matter():
    layer = keras.layers.Dense(3)
    before = layer.get_config()
    with portable_configs():
        inside = layer.get_config()
        assert "quantization_config" not in inside
        assert "input_axes" not in keras.initializers.GlorotUniform(seed=3).get_config()
        assert keras.initializers.GlorotUniform(seed=3).get_config()["seed"] == 3
    assert layer.get_config() == before
    assert set(inside) == set(before) - {"quantization_config"}
    assert all(inside[key] == before[key] for key in inside if key != "kernel_initializer")
    if "renorm" in keras.layers.BatchNormalization().get_config():  # Keras 3.15 and later
        with portable_configs():
            assert keras.layers.BatchNormalization(renorm=True).get_config()["renorm"] is True


def test_portable_configs_restores_get_config_when_saving_fails(tmp_path):
    original = keras.layers.Dense.get_config
    with pytest.raises(RuntimeError), portable_configs():
        raise RuntimeError("disk full")
    assert keras.layers.Dense.get_config is original


def test_a_plain_batch_norm_does_not_renormalise():
    assert renormalises(keras.layers.BatchNormalization()) is False


def test_weight_average_pairs_match_the_trained_variables():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=AveragingAdam(0.05, use_ema=True, ema_momentum=0.99), loss="mse")
    model.optimizer.build(model.trainable_variables)
    pairs = weight_average_pairs(model.optimizer)
    assert [v.path for v, _ in pairs] == [v.path for v in model.trainable_variables]
    assert all(tuple(v.shape) == tuple(a.shape) for v, a in pairs)


def test_the_weight_average_warms_up_instead_of_holding_the_starting_weights():
    """After 30 steps at momentum 0.999, Keras' average would still be 97 % the random start."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=AveragingAdam(0.05, use_ema=True, ema_momentum=0.999), loss="mse")
    start = [v.numpy().copy() for v in model.trainable_variables]
    rng = np.random.default_rng(0)
    for _ in range(30):  # train_on_batch: fit's end would copy the average into the model
        model.train_on_batch(rng.normal(size=(1, 4)), rng.normal(size=(1, 3)))
    raw = [v.numpy() for v in model.trainable_variables]
    average = [average.numpy() for _, average in weight_average_pairs(model.optimizer)]

    def distance(a, b):
        return sum(float(np.abs(x - y).sum()) for x, y in zip(a, b, strict=True))

    assert distance(raw, start) > 0.5  # it trained
    # the average follows the recent weights: far nearer to them than to the start
    assert distance(average, raw) < 0.3 * distance(average, start)



def test_the_best_epoch_and_checkpoint_are_the_later_one_on_a_tie(tmp_path):
    assert best_epoch([0.90, 0.95, 0.95, 0.94]) == 3
    assert best_epoch([0.99]) == 1
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", metrics=["accuracy"])
    checkpoint = AtomicModelCheckpoint(tmp_path / "best.weights.h5", monitor="val_accuracy", mode="max",
                                       save_best_only=True, save_weights_only=True)
    checkpoint.set_model(model)
    for epoch, accuracy in enumerate([0.50, 0.70, 0.70, 0.60]):
        model.layers[0].bias.assign([float(epoch)])
        checkpoint.on_epoch_begin(epoch)
        checkpoint.on_epoch_end(epoch, {"val_accuracy": accuracy})
    model.load_weights(tmp_path / "best.weights.h5")
    assert float(model.layers[0].bias.numpy()[0]) == 2.0  # the third epoch's, not the second's
