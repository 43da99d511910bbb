"""Does re-estimating batch-norm statistics for a saved model's weights change its accuracy?

`full` saves an average of its weights, but the batch-norm layers' moving statistics are those the
raw weights produced on augmented batches (the average leaves non-trainable variables alone). This
probe loads a saved classifier, re-estimates each batch-norm layer's mean and variance, layer by
layer, from training images (clean, or through the training augmentation), and prints validation
and test accuracy before and after. It trains nothing.

Run: `python bench/bn_recalibration_probe.py [--model models/mnist_cnn.keras] [--seed 42]`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, load_dataset, to_model_input
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.model import build_augmentation

ROOT = Path(__file__).resolve().parents[1]


def accuracy_text(model: keras.Model, ds: Dataset) -> str:
    parts = []
    for name, images, labels in (("validation", ds.val_x, ds.val_y), ("test", ds.test_x, ds.test_y)):
        predicted = predict_probabilities(model, images).argmax(axis=1)
        errors = int((predicted != labels).sum())
        parts.append(f"{name} {1 - errors / len(labels):.4f} ({errors} errors)")
    return ", ".join(parts)


def recalibrate(model: keras.Model, images: np.ndarray, batch: int = 1000) -> None:
    """Set every BatchNormalization layer's moving statistics to its inputs' mean and variance
    over `images` (model input), in order, so that each layer sees the statistics already fixed
    before it."""
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        inputs_of_layer = keras.Model(model.inputs, layer.input)
        total = np.zeros(layer.moving_mean.shape, "float64")
        squares = np.zeros_like(total)
        count = 0
        for start in range(0, len(images), batch):
            a = np.asarray(inputs_of_layer(images[start:start + batch], training=False), dtype="float64")
            a = a.reshape(-1, a.shape[-1])
            total += a.sum(axis=0)
            squares += (a * a).sum(axis=0)
            count += len(a)
        mean = total / count
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign((squares / count - mean**2).astype("float32"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mnist_cnn.keras",
                        help="the saved classifier (default: models/mnist_cnn.keras)")
    parser.add_argument("--seed", type=int, default=42,
                        help="the seed it was trained with: it fixes the validation split (default: 42)")
    args = parser.parse_args()
    config = Config.from_profile("full", seed=args.seed, data_dir=ROOT / "data")
    ds = load_dataset(config)
    model = keras.saving.load_model(args.model, compile=False)
    saved = model.get_weights()
    print(f"as saved: {accuracy_text(model, ds)}", flush=True)
    train = to_model_input(ds.train_x)
    chosen = np.random.default_rng(config.seed).permutation(len(train))
    # one random warp of each image, drawn once, so that every layer's statistics see the same images
    augmentation = build_augmentation(config)
    warped = np.concatenate([np.asarray(augmentation(train[chosen[start:start + 1000]], training=True))
                             for start in range(0, len(train), 1000)])
    for kind, images in (("clean", train[chosen]), ("augmented", warped)):
        for size in (5000, len(train)):
            model.set_weights(saved)
            recalibrate(model, images[:size])
            print(f"statistics from {size} {kind} training images: {accuracy_text(model, ds)}", flush=True)


if __name__ == "__main__":
    main()
