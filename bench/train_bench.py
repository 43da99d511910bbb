"""Time-to-accuracy, side by side in one run: this project's profiles against the peer recipes.

Trains, on the embedded data and the same machine, one after another:
- keras-io "Simple MNIST convnet": its architecture and recipe (Adam, batch 128, 15 epochs,
  validation_split=0.1), the first peer;
- the `original` profile: the original project's recipe, the second peer;
- this project's `quick` and `full` profiles.
and prints train seconds (inside fit) and test accuracy for each, with the ratios the targets are
stated in. Run: `python bench/train_bench.py [--only quick,keras-io] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.dataset import load_dataset, one_hot, to_model_input
from mnist_cnn.devices import cpu_description, device_description
from mnist_cnn.evaluate import predict_probabilities
from mnist_cnn.pipeline import library_versions
from mnist_cnn.train import train

ROOT = Path(__file__).resolve().parents[1]


def keras_io_recipe(seed: int) -> tuple[float, float, int]:
    """The keras-io "Simple MNIST convnet" example as published: (train s, test accuracy, epochs)."""
    keras.utils.set_random_seed(seed)
    config = Config.from_profile("full", data_dir=ROOT / "data", val_size=0)
    ds = load_dataset(config)  # all 60,000 training images: the example splits off 10 % itself
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = to_model_input(ds.train_x), one_hot(ds.train_y)
    started = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=15, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - started
    return seconds, test_accuracy(model, ds.test_x, ds.test_y), 15


def profile_run(profile: str, seed: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        config = Config.from_profile(
            profile, seed=seed, data_dir=ROOT / "data", run_dir=Path(scratch) / "run"
        )
        ds = load_dataset(config)
        result = train(config, ds, report=lambda line: print(f"  [{profile}] {line}", flush=True))
    return (
        result.train_seconds,
        test_accuracy(result.model, ds.test_x, ds.test_y),
        result.epochs_run,
    )


def test_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    return float((predict_probabilities(model, images).argmax(axis=1) == labels).mean())


RECIPES = {
    "keras-io": keras_io_recipe,
    "original": lambda seed: profile_run("original", seed),
    "quick": lambda seed: profile_run("quick", seed),
    "full": lambda seed: profile_run("full", seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(RECIPES),
        help="comma-separated recipes to run (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of every run (default: 42)")
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results here as JSON (default: none)",
    )
    args = parser.parse_args()

    results = {}
    for name in args.only.split(","):
        print(f"training {name} ...", flush=True)
        seconds, accuracy, epochs = RECIPES[name](args.seed)
        results[name] = {
            "train_seconds": round(seconds, 1),
            "test_accuracy": accuracy,
            "epochs": epochs,
        }
        print(
            f"  {name}: {seconds:.1f} s, test accuracy {accuracy:.4f}, {epochs} epochs", flush=True
        )

    print(f"\nOn {device_description()}: {cpu_description()}; seed {args.seed}:")
    print(f"{'recipe':<10} {'epochs':>6} {'train s':>9} {'test acc':>9}  ratio")
    for name, r in results.items():
        ratio = ""
        if name == "quick" and "keras-io" in results:
            ratio = f"{r['train_seconds'] / results['keras-io']['train_seconds']:.2f} of keras-io's time"
        if name == "full" and "original" in results:
            ratio = f"{r['train_seconds'] / results['original']['train_seconds']:.2f} of the original's time"
        print(
            f"{name:<10} {r['epochs']:>6} {r['train_seconds']:>9.1f} {r['test_accuracy']:>9.4f}  {ratio}"
        )
    if args.json:
        payload = {
            "seed": args.seed,
            "device": device_description(),
            "versions": library_versions(),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
