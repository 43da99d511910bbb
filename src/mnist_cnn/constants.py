"""The shape of an MNIST digit and the number of classes, for every layer of the package.

Kept apart from the CSV code so the model and the image pipeline can import them without it.
"""

from __future__ import annotations

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
