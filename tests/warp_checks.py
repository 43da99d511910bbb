"""The grid distortion's checks, run by tests/test_model.py in-process and by tests/backends on every
Keras backend (in a fresh process each): its own bilinear sampler against the backend's affine warp."""

from __future__ import annotations

import numpy as np

from mnist_cnn.model import RandomAffine


def check_grid_distortion() -> None:
    """With a field of 1e-9 pixels the distorted warp equals the plain one (the same seed draws the
    same warp first); a one-pixel field moves a lone bright pixel by at most that, differently in each
    image, and the seed decides."""
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    plain = np.asarray(RandomAffine(0.03, 0.1, 0.1, seed=5)(images, training=True))
    tiny = np.asarray(RandomAffine(0.03, 0.1, 0.1, seed=5, distortion=1e-9)(images, training=True))
    assert not np.allclose(plain, images, atol=1e-2), "the warp left the images as they were"
    np.testing.assert_allclose(tiny, plain, atol=1e-5)
    dot = np.zeros((64, 28, 28, 1), "float32")
    dot[:, 14, 14] = 1.0
    moved = np.asarray(RandomAffine(seed=7, distortion=1.0)(dot, training=True))[..., 0]
    rows, cols = np.mgrid[:28, :28]
    mass = moved.sum(axis=(1, 2))
    centre_row = (moved * rows).sum(axis=(1, 2)) / mass
    centre_col = (moved * cols).sum(axis=(1, 2)) / mass
    assert np.all(np.hypot(centre_row - 14, centre_col - 14) <= np.sqrt(2) + 1e-4)
    assert np.ptp(centre_row) > 0.2 and np.ptp(centre_col) > 0.2  # it does move, image by image
    again = np.asarray(RandomAffine(seed=7, distortion=1.0)(dot, training=True))[..., 0]
    np.testing.assert_array_equal(again, moved)
