"""Config: profiles, settings as text, their checks and their JSON record."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import pytest

from mnist_cnn.config import PROFILES, Config, ConfigError, check_switches
from mnist_cnn.model import build_network


def test_ema_momentum_must_be_below_one():
    with pytest.raises(ValueError, match="ema_momentum"):
        Config.from_profile("smoke", ema_momentum=1.0)
    assert Config.from_profile("smoke").with_settings(["ema_momentum=0.99"]).ema_momentum == 0.99
    assert Config.from_profile("smoke").with_settings(["dropout=.5"]).dropout == 0.5  # not JSON, a number


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
    model = build_network(Config.from_profile("smoke", convs_per_block=(1, 2)))
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
    for bad, message in (["epochs=many", "epochs='many': expected a whole number"],
                         ["colour=red", "unknown settings"], ["epochs", "expected key=value"],
                         ["schedule=linear", "unknown schedule"],
                         ["augment=maybe", "augment='maybe': expected True or False"],
                         ["epochs=0", "epochs=0: must be at least 1"]):
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
    with pytest.raises(ValueError, match=r"distortion=-1\.0: must be at least 0"):
        Config.from_profile("full", distortion=-1.0)


def test_only_the_default_run_writes_models_and_figures(tmp_path):
    """models/ and figures/ hold the committed run: a smoke, quick or changed run writes in its run_dir."""
    assert (Config().models_dir, Config().figures_dir) == (Path("models"), Path("figures"))
    assert Config(device="cpu", precision="float32", xla="off", tensorboard=True).models_dir == Path("models")
    others = (Config.from_profile("smoke"), Config.from_profile("quick"), Config(epochs=2), Config(members=3),
              Config().with_settings(["epochs=2"]), Config(run_dir=tmp_path, seed=7))
    for other in others:
        assert not other.is_default_run()
        assert (other.models_dir, other.figures_dir) == (other.run_dir / "models", other.run_dir / "figures")
    assert Config.from_profile("quick", models_dir="mine").models_dir == Path("mine")  # asked for: kept
    # a whole metrics.json of the default run, replayed with other settings, follows the settings
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"config": Config().to_dict()}))
    assert Config.from_json(path).models_dir == Path("models")
    assert Config(**{**Config.from_json(path).given(), "epochs": 2}).models_dir == Path("runs/full/models")


@pytest.mark.parametrize(("setting", "message"), [
    ({"epochs": "2"}, "epochs='2': expected a whole number"),
    ({"seed": 1.5}, "seed=1.5: expected a whole number"),
    ({"learning_rate": "fast"}, "learning_rate='fast': expected a number"),
    ({"augment": "False"}, "augment='False': expected True or False"),
    ({"members": True}, "members=True: expected a whole number"),
    ({"conv_filters": "16,32"}, "conv_filters='16,32': expected a list of whole numbers"),
    ({"data_dir": 3}, "data_dir=3: expected a folder path"),
    ({"seed": -1}, "seed=-1: must be at least 0"),
    ({"train_limit": 0}, "train_limit=0: must be at least 1"),
    ({"learning_rate": 0.0}, "learning_rate > 0"),
    ({"class_names": "0123456789"}, "class_names: expected a list.*papermill: -y"),
    ({"class_names": ["cat", "dog", "cat"]}, "class_names: 'cat' given twice"),
    ({"class_names": ["cat"]}, "at least two distinct names"),
    ({"class_names": ["cat", ""]}, "class_names: expected a list"),
])
def test_a_setting_of_the_wrong_type_or_range_is_refused_in_one_line_naming_it(setting, message):
    with pytest.raises(ConfigError, match=message) as refused:
        Config.from_profile("smoke", **setting)
    assert "\n" not in str(refused.value)
    assert refused.value._render_traceback_() == [f"ConfigError: {refused.value}"]  # a notebook's one line


def test_class_names_given_as_a_json_list_in_text_are_read_as_one():
    """papermill's -p passes text: Fashion-MNIST's names as one JSON string are ten names, not 97 letters."""
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"]
    assert Config.from_profile("smoke", class_names=json.dumps(names)).class_names == tuple(names)
    with pytest.raises(ConfigError, match="class_names"):
        Config(class_names=range(3))


def test_the_notebooks_switches_are_true_false_or_none():
    check_switches(fresh_start=False, launch_demo=None)
    with pytest.raises(ConfigError, match="launch_demo='True': expected True, False or None"):
        check_switches(fresh_start=False, launch_demo="True")


def test_numbers_are_read_as_their_setting_declares_and_nan_is_refused(tmp_path):
    smoke = Config.from_profile("smoke")
    read = smoke.with_settings(["epochs=3.0", "train_limit=1e3", "dropout=0", "conv_filters=16.0,32"])
    assert (read.epochs, read.train_limit, read.conv_filters) == (3, 1000, (16, 32))
    assert type(read.epochs) is int and type(read.dropout) is float  # equal settings fingerprint equal
    assert smoke.with_settings(["augment=Yes"]).augment is True
    for bad, message in (("dropout=nan", r"dropout=nan: must be in \[0, 1\)"),
                         ("label_smoothing=NaN", "label_smoothing=nan"),
                         ("epochs=yes", "epochs='yes': expected a whole number"),
                         ("epochs=2.5", "epochs=2.5: expected a whole number")):
        with pytest.raises(ValueError, match=message):
            smoke.with_settings([bad])
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"epochs": 3.0, "conv_filters": [16.0, 32], "train_limit": None}))
    assert (Config.from_json(settings).epochs, Config.from_json(settings).conv_filters) == (3, (16, 32))
    settings.write_text(json.dumps({"epochs": None}))
    with pytest.raises(ValueError, match=r"settings.json: epochs=null: expected a value"):
        Config.from_json(settings)
