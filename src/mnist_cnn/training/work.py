"""How much arithmetic a recipe costs: forward multiply-adds in convolutions and dense layers."""

from __future__ import annotations

import math
from typing import Any

import keras

from mnist_cnn.training.input_pipeline import takes_whole_batches
from mnist_cnn.training.result import TrainResult


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image's forward pass through `model`'s Conv2D and Dense layers, nested too."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, inputs_per_group, filters = layer.kernel.shape
            out_h, out_w = layer.output.shape[1:3]
            total += out_h * out_w * kernel_h * kernel_w * inputs_per_group * filters
        elif isinstance(layer, keras.layers.Dense):
            fan_in, units = layer.kernel.shape
            positions = math.prod(layer.output.shape[1:-1])  # a Dense over a sequence or an image
            total += positions * fan_in * units
    return int(total)


def training_work(
    model: keras.Model, train_images: int, batch_size: int, epochs_run: int, whole_batches: bool = True
) -> dict[str, Any]:
    """A training's work: multiply-adds per image, images per network, epochs, and their product."""
    per_image = multiply_adds(model)
    whole = whole_batches and takes_whole_batches(train_images, batch_size)
    per_epoch = (train_images // batch_size) * batch_size if whole else train_images
    images_seen = epochs_run * per_epoch
    return {"multiply_adds_per_image": per_image, "images_seen": images_seen, "epochs": epochs_run,
            "multiply_adds_seen": per_image * images_seen}


def result_work(result: TrainResult, train_images: int, batch_size: int) -> dict[str, Any]:
    """`training_work` of a finished run, summed over an ensemble's networks."""
    parts = [training_work(m.model, train_images, batch_size, m.epochs_run)
             for m in (result.members or [result])]
    if len(parts) == 1:
        return parts[0]
    total = {key: sum(part[key] for part in parts) for key in parts[0]}
    return {**total, "networks": len(parts)}
