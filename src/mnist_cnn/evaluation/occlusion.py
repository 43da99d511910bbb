"""Occlusion sensitivity (Zeiler & Fergus 2014): where hiding part of an image lowers the prediction.

Through `model.predict` alone, so on every Keras backend: Keras 3 has no backend-neutral input gradient."""

from __future__ import annotations

import numpy as np

from mnist_cnn.evaluation.metrics import predict_probabilities


def occlusion_map(model, image: np.ndarray, patch: int = 6, stride: int = 2,
                  fill: int = 0) -> tuple[np.ndarray, int]:
    """The predicted class's probability drop per pixel (28, 28), over the patches hiding it, and the class.

    A patch of `fill` (0: black, erasing the strokes under it) slides over the uint8 `image` (28, 28).
    """
    starts = range(0, image.shape[0] - patch + 1, stride)
    corners = [(r, c) for r in starts for c in starts]
    batch = np.repeat(image[None], len(corners) + 1, axis=0)  # the image first, then its patched copies
    for k, (r, c) in enumerate(corners, 1):
        batch[k, r:r + patch, c:c + patch] = fill
    probabilities = predict_probabilities(model, batch)
    label = int(probabilities[0].argmax())
    drops = probabilities[0, label] - probabilities[1:, label]
    total, count = np.zeros(image.shape), np.zeros(image.shape)
    for drop, (r, c) in zip(drops, corners, strict=True):
        total[r:r + patch, c:c + patch] += drop
        count[r:r + patch, c:c + patch] += 1
    return total / np.maximum(count, 1), label


def occlusion_maps(model, images: np.ndarray, **options) -> tuple[np.ndarray, np.ndarray]:
    """`occlusion_map` of each uint8 image (N, 28, 28): the maps (N, 28, 28) and predicted classes (N,)."""
    pairs = [occlusion_map(model, image, **options) for image in images]
    maps = np.array([m for m, _ in pairs]).reshape(len(images), *np.shape(images)[1:])
    return maps, np.array([c for _, c in pairs], dtype=int)
