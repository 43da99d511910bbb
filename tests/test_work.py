"""The work a recipe records: multiply-adds per image counted layer by layer, and images seen."""

from __future__ import annotations

import keras

from mnist_cnn.config import Config
from mnist_cnn.model import build_network
from mnist_cnn.training.ensemble import average_members
from mnist_cnn.training.result import TrainResult
from mnist_cnn.training.work import multiply_adds, result_work, training_work


def small_network() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3)(inputs)  # 26 x 26 positions, 3 x 3 x 1 weights each, 8 filters
    x = keras.layers.MaxPooling2D()(x)  # 13 x 13 x 8: no multiply-adds counted
    x = keras.layers.Conv2D(4, 3, padding="same")(x)  # 13 x 13 positions, 3 x 3 x 8, 4 filters
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))  # 676 inputs, 10 units


def test_multiply_adds_count_each_convolution_and_dense_layer():
    assert multiply_adds(small_network()) == 26 * 26 * 9 * 8 + 13 * 13 * 72 * 4 + 676 * 10


def test_full_does_about_ten_million_multiply_adds_an_image_and_an_ensemble_counts_every_member():
    config = Config.from_profile("full")
    single = multiply_adds(build_network(config))
    assert 9e6 < single < 11e6
    members = [build_network(config), build_network(config)]
    assert multiply_adds(average_members(members, name="pair")) == 2 * single


def test_an_ensembles_work_is_its_networks_added_up():
    results = [TrainResult(small_network(), None, 1.0, epochs, epochs, 0) for epochs in (3, 2)]
    pair = TrainResult(average_members([r.model for r in results], name="pair"), None, 2.0, 5, 3, 0,
                       members=results)
    one = multiply_adds(small_network())
    assert result_work(pair, 1000, 256) == {
        "multiply_adds_per_image": 2 * one, "images_seen": 5 * 768, "epochs": 5,
        "multiply_adds_seen": one * 5 * 768, "networks": 2}
    assert result_work(results[0], 1000, 256) == training_work(small_network(), 1000, 256, 3)


def test_images_seen_are_whole_batches_unless_keras_keeps_the_last_one():
    model = small_network()
    work = training_work(model, train_images=1000, batch_size=256, epochs_run=3)
    assert work["images_seen"] == 3 * 768 and work["epochs"] == 3
    assert work["multiply_adds_seen"] == work["multiply_adds_per_image"] * 3 * 768
    assert training_work(model, 1000, 256, 3, whole_batches=False)["images_seen"] == 3000
    assert training_work(model, 100, 256, 2)["images_seen"] == 200  # one partial batch is all there is


def test_the_work_figures_points_are_the_committed_records_and_the_networks_counted():
    import json
    import sys

    from tests.conftest import ROOT, load_bench_script

    work_figure = load_bench_script("work_figure")
    del sys.modules["work_figure"]
    points = [work_figure.recipe_point(*recipe) for recipe in work_figure.RECIPES]
    full = next(p for p in points if p["label"] == "full")
    record = json.loads((ROOT / full["record"]).read_text())
    assert abs(full["test_accuracy"] - record["summary"]["full"]["test_accuracy"]) < 1e-12
    whole_batches = 54_000 // 256 * 256
    assert full["multiply_adds_seen"] == multiply_adds(build_network(Config())) * whole_batches * 16
    committed = json.loads((ROOT / "bench" / "results" / "accuracy_vs_work.json").read_text())
    assert committed["recipes"] == json.loads(json.dumps(points))  # the committed figure's data is today's
