"""The network: shapes per profile, the class count, the augmentation, parameter counts."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.config import PROFILES, Config
from mnist_cnn.model import RandomAffine, build_model, classifier_of
from tests.warp_checks import check_grid_distortion

PARAMETERS = {"full": 198_442, "quick": 216_282, "smoke": 14_578, "original": 825_866}



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


def test_training_model_wraps_the_classifier_with_the_augmentation():
    config = Config.from_profile("full")
    model = build_model(config)
    classifier = classifier_of(model)
    assert any(isinstance(layer, RandomAffine) for layer in model.layers)
    assert not any(isinstance(layer, RandomAffine) for layer in classifier.layers)
    assert classifier.get_layer("probabilities").dtype_policy.compute_dtype == "float32"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_has_its_pinned_parameter_count(profile):
    assert build_model(Config.from_profile(profile)).count_params() == PARAMETERS[profile]


def test_the_grid_distortion_is_the_plain_warp_moved_by_at_most_its_pixels():
    check_grid_distortion()
    assert RandomAffine.from_config(RandomAffine(seed=7, distortion=1.0).get_config()).distortion == 1.0


def test_a_standardised_network_sees_each_image_at_zero_mean_and_unit_variance():
    config = Config.from_profile("smoke", standardize=True)
    classifier = classifier_of(build_model(config))
    first = classifier.layers[1]
    images = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32") * [[[[0.2]]], [[[1]]], [[[3]]]]
    out = np.asarray(first(images))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    variance = images.var(axis=(1, 2, 3))  # Keras' epsilon (1e-3) keeps a near-blank image from blowing up
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), np.sqrt(variance / (variance + 1e-3)), rtol=1e-3)
    assert build_model(config).count_params() == PARAMETERS["smoke"]  # no weights of its own
