"""The shape of an MNIST digit and the number of classes, importable without the CSV code."""

from __future__ import annotations

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
CORRUPTION_SEED = 0  # the MNIST-C corruptions' fixed default seed: every model meets the same images
