"""Occlusion maps: flat where the model's output ignores the image, predicted in batches of one shape."""

from __future__ import annotations

import keras
import numpy as np

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation.metrics import PREDICT_BATCH
from mnist_cnn.evaluation.occlusion import occlusion_maps
from mnist_cnn.evaluation.robustness_plots import occlusion_figure
from tests.conftest import ROOT


def right_half_model() -> keras.Model:
    """A model whose output depends only on columns 14-27: the left half is cropped away."""
    inputs = keras.Input((28, 28, 1))
    kept = keras.layers.Flatten()(keras.layers.Cropping2D(((0, 0), (14, 0)))(inputs))
    weights = keras.initializers.RandomNormal(0, 0.5, seed=1)
    dense = keras.layers.Dense(10, activation="softmax", kernel_initializer=weights)
    return keras.Model(inputs, dense(kept))


def test_a_region_the_model_ignores_is_flat_and_batches_keep_one_shape():
    model, images = right_half_model(), load_csv(ROOT / "data" / "mnist_test.csv.gz")[0][:3]
    sizes = []
    predict = model.predict
    model.predict = lambda x, **kw: sizes.append((len(x), kw["batch_size"])) or predict(x, **kw)
    maps, labels = occlusion_maps(model, images)
    assert maps.shape == images.shape and len(sizes) == 3  # one call per image: 145 copies, padded
    assert all(size % PREDICT_BATCH == 0 and batch == PREDICT_BATCH for size, batch in sizes)
    np.testing.assert_array_equal(labels, predict(images[..., None] / 255, verbose=0).argmax(axis=1))
    # a pixel in columns 0-8 is hidden only by patches that end before column 14: no change there
    np.testing.assert_allclose(maps[:, :, :9], 0, atol=1e-6)
    assert all(np.abs(m[:, 14:]).max() > 1e-3 for m in maps)
    assert occlusion_figure(images, maps, ["a", "b", "c"]).axes
