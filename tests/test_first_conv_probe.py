"""bench/first_conv_probe.py: its variant syntax, that its 3x3/1 variant is the profile's own network (the
baseline every variant is compared with), that a stride of 2 does the first block's pooling with less
work, and a whole smoke run scored on validation only."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mnist_cnn.config import Config
from mnist_cnn.model import build_network
from mnist_cnn.training.work import multiply_adds
from tests.conftest import ROOT, load_bench_script

SCRIPT = ROOT / "bench" / "first_conv_probe.py"


@pytest.fixture(scope="module")
def probe():
    yield load_bench_script("first_conv_probe")
    del sys.modules["first_conv_probe"]


def shapes(model) -> list[tuple]:
    return [tuple(layer.output.shape[1:]) for layer in model.layers]


def test_a_variant_is_a_square_kernel_and_a_stride(probe):
    assert probe.parse_variant("3x3/2") == (3, 2)
    assert probe.parse_variant("5x5/1") == (5, 1)
    for text in ("3x5/1", "3x3/3", "3x3", "33/1"):
        with pytest.raises(argparse.ArgumentTypeError, match="KxK/S"):
            probe.parse_variant(text)


@pytest.mark.parametrize("profile, settings", [("quick", {}), ("full", {}), ("full", {"standardize": True})])
def test_the_3x3_stride_1_variant_is_the_profiles_own_network(probe, profile, settings):
    config = Config.from_profile(profile, **settings)
    ours, theirs = probe.variant_network(3, 1)(config), build_network(config)
    assert shapes(ours) == shapes(theirs)
    assert ours.count_params() == theirs.count_params()
    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in theirs.layers]


def test_a_strided_first_convolution_replaces_the_first_pool_with_less_work(probe):
    config = Config.from_profile("quick")
    plain, strided, wide = (probe.variant_network(k, s)(config) for k, s in ((3, 1), (3, 2), (5, 2)))
    convolutions = [layer for layer in strided.layers if layer.__class__.__name__ == "Conv2D"]
    assert convolutions[0].strides == (2, 2) and tuple(convolutions[0].output.shape[1:3]) == (13, 13)
    pools = [layer for layer in strided.layers if layer.__class__.__name__ == "MaxPooling2D"]
    assert len(pools) == len(config.conv_filters) - 1  # only the first block lost its pool
    # the layers after the first block see maps of the same size, so the dense head is unchanged
    assert strided.get_layer("logits").kernel.shape == plain.get_layer("logits").kernel.shape
    assert multiply_adds(strided) < multiply_adds(plain) and multiply_adds(wide) < multiply_adds(plain)


def test_the_original_recipes_network_is_not_a_profile_it_varies():
    done = subprocess.run([sys.executable, str(SCRIPT), "--profile", "original"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "invalid choice: 'original'" in done.stderr


@pytest.mark.slow
def test_a_smoke_probe_scores_each_variant_on_validation_only(tmp_path, probe):
    out = tmp_path / "probe.json"
    command = [sys.executable, str(SCRIPT), "--profile", "smoke", "--seeds", "1", "--variant", "3x3/1",
               "--variant", "5x5/2", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert list(record["variants"]) == ["3x3/1", "5x5/2"]
    for name, row in record["variants"].items():
        assert 0.5 < row["val_accuracy"] <= 1 and "test_accuracy" not in json.dumps(row)
        # the work of the network it trained, counted here from the variant's own network
        network = probe.variant_network(*probe.parse_variant(name))(Config.from_profile("smoke"))
        assert row["multiply_adds_per_image"] == row["runs"]["1"]["work"]["multiply_adds_per_image"]
        assert row["multiply_adds_per_image"] == multiply_adds(network)
    assert (record["variants"]["5x5/2"]["multiply_adds_per_image"]
            < record["variants"]["3x3/1"]["multiply_adds_per_image"])
