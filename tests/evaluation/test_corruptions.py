"""MNIST-C's corruptions: the deterministic ones against their definitions, every one keeping shape,
dtype and range and depending on the seed alone; and a model's accuracy under each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation.corruptions import CORRUPTIONS, corruption_record
from tests.conftest import ROOT

# tensorflow-datasets' mnist_corrupted configurations, in MNIST-C's order
MNIST_C = ["shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
           "brightness", "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges"]
DETERMINISTIC = {"scale", "brightness", "stripe", "canny_edges"}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return load_csv(ROOT / "data" / "mnist_test.csv.gz")[0][:120]


def test_the_registry_names_mnist_c_in_its_order():
    assert list(CORRUPTIONS) == MNIST_C


@pytest.mark.parametrize("name", MNIST_C)
def test_shape_dtype_and_range_kept_and_the_seed_alone_decides(name, digits):
    corrupt, images = CORRUPTIONS[name], digits[:20]
    out = corrupt(images, 3)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert not np.array_equal(out, images)
    np.testing.assert_array_equal(corrupt(images, 3), out)
    assert np.array_equal(corrupt(images, 4), out) == (name in DETERMINISTIC)
    floats = corrupt((images / 255).astype(np.float32), 3)
    assert floats.dtype == np.float32 and floats.min() >= 0 and floats.max() <= 1
    assert np.abs(floats * 255 - out).max() <= 1  # the same corruption in either convention


def test_brightness_adds_half_the_range_and_clips(digits):
    x = digits / 255
    np.testing.assert_array_equal(CORRUPTIONS["brightness"](x), np.clip(x + 0.5, 0, 1))
    np.testing.assert_array_equal(CORRUPTIONS["brightness"](digits), np.rint(np.clip(x + 0.5, 0, 1) * 255))


def test_stripe_inverts_columns_0_to_6_and_21_to_27(digits):
    out, inverted = CORRUPTIONS["stripe"](digits), np.r_[0:7, 21:28]
    np.testing.assert_array_equal(out[:, :, inverted], 255 - digits[:, :, inverted])
    np.testing.assert_array_equal(out[:, :, 7:21], digits[:, :, 7:21])


def test_canny_edges_are_scikit_image_canny(digits):
    """Against scikit-image's `feature.canny` (0.26.0), stored: of 60 test digits, and of 60 more at
    12 % contrast, where the thresholds decide."""
    reference = np.load(Path(__file__).parent / "data" / "canny_skimage.npz")
    edges = np.unpackbits(reference["edges"], axis=-1, count=28).astype(bool)
    images = np.concatenate([digits[:60] / 255, digits[60:120] / 255 * 0.12])
    np.testing.assert_array_equal(CORRUPTIONS["canny_edges"](images) == 1, edges)
    assert set(np.unique(CORRUPTIONS["canny_edges"](digits))) == {0, 255}


def test_translate_shifts_three_pixels_along_each_axis(digits):
    out = CORRUPTIONS["translate"](digits, 5)
    for image, moved in zip(digits, out, strict=True):
        shifts = [np.roll(np.pad(image, 3), (dr, dc), (0, 1))[3:-3, 3:-3] for dr in (-3, 3) for dc in (-3, 3)]
        assert any(np.array_equal(moved, s) for s in shifts)


def test_noise_and_lines_as_defined(digits):
    shot = CORRUPTIONS["shot_noise"](digits)  # Poisson counts of 3 per full pixel: levels 0, 1/3, 2/3, 1
    assert set(np.unique(shot)) <= {0, 85, 170, 255}
    impulse = CORRUPTIONS["impulse_noise"](digits)
    changed = impulse != digits
    assert set(np.unique(impulse[changed])) <= {0, 255} and 0.1 < changed.mean() < 0.2
    dotted = CORRUPTIONS["dotted_line"](digits)  # dashes two pixels long: every other pair of columns
    gaps = np.arange(28) // 2 % 2 == 0
    assert np.array_equal(dotted[:, :, gaps], digits[:, :, gaps]) and (dotted >= digits).all()
    assert (CORRUPTIONS["zigzag"](digits) >= digits).all()


def test_corruption_record_scores_each_corruption_and_their_mean(digits):
    import keras

    labels = load_csv(ROOT / "data" / "mnist_test.csv.gz")[1][:120]
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    record = corruption_record(model, digits, labels, seed=2)
    assert list(record["corruptions"]) == MNIST_C and record["corruption_seed"] == 2
    assert record["corruption_mean"] == pytest.approx(np.mean(list(record["corruptions"].values())))
    predicted = model.predict(CORRUPTIONS["fog"](digits, 2)[..., None] / 255, verbose=0).argmax(axis=1)
    assert record["corruptions"]["fog"] == pytest.approx((predicted == labels).mean())
