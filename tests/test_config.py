"""Config: profiles, settings as text, their checks and their JSON record."""

from __future__ import annotations

import json
import os

import keras
import pytest

from mnist_cnn.config import PROFILES, Config
from mnist_cnn.model import build_classifier


def test_ema_momentum_must_be_below_one():
    with pytest.raises(ValueError, match="ema_momentum"):
        Config.from_profile("smoke", ema_momentum=1.0)
    assert Config.from_profile("smoke").with_settings(["ema_momentum=0.99"]).ema_momentum == 0.99


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
    model = build_classifier(Config.from_profile("smoke", convs_per_block=(1, 2)))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [8, 16, 16]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 2  # one per block, after its last convolution


def test_config_records_as_json():
    record = json.loads(Config.from_profile("quick", seed=7).to_json())
    assert record["seed"] == 7 and record["profile"] == "quick" and record["data_dir"] == "data"
    assert os.path.basename(record["models_dir"]) == "models"


def test_the_defaults_are_the_default_profile():
    assert Config() == Config.from_profile("full") and PROFILES["full"] == {}
    assert Config().profile == "full"
    assert "seed" not in PROFILES and Config.from_profile("original").architecture == "original"


def test_any_setting_can_be_set_as_text_with_the_usual_checks():
    config = Config.from_profile("quick").with_settings(
        ["dense_units=256", "conv_filters=16,32", "convs_per_block=1,2", "augment=true", "train_limit=none",
         "label-smoothing=0.05", "class_names=a,b,c"]
    )
    assert (config.dense_units, config.conv_filters, config.convs_per_block) == (256, (16, 32), (1, 2))
    assert config.augment is True and config.train_limit is None and config.label_smoothing == 0.05
    assert config.class_names == ("a", "b", "c") and config.epochs == 4  # the rest stays quick's
    for bad, message in (["epochs=many", "epochs='many': expected int"], ["colour=red", "unknown settings"],
                         ["epochs", "expected key=value"], ["schedule=linear", "unknown schedule"],
                         ["augment=maybe", "expected bool"], ["epochs=0", "epochs=0: must be at least 1"]):
        with pytest.raises(ValueError, match=message):
            Config().with_settings([bad])


def test_settings_round_trip_through_the_json_that_metrics_json_records(tmp_path):
    config = Config.from_profile("quick", seed=7, conv_filters=(16, 32), train_limit=500)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"test_accuracy": 0.9, "config": config.to_dict()}))
    assert Config.from_json(path) == config
    path.write_text(json.dumps({"profile": "smoke", "epochs": "x"}))
    with pytest.raises(ValueError, match="epochs='x'"):
        Config.from_json(path)


def test_default_run_directory_depends_on_the_profile():
    assert Config.from_profile("quick").run_dir != Config.from_profile("smoke").run_dir


def test_distortion_and_standardisation_are_refused_where_they_would_do_nothing():
    with pytest.raises(ValueError, match="original recipe is kept as written"):
        Config.from_profile("original", standardize=True)
    with pytest.raises(ValueError, match="original recipe is kept as written"):
        Config.from_profile("original", distortion=1.0)
    with pytest.raises(ValueError, match="0 or more"):
        Config.from_profile("full", distortion=-1.0)
