"""The runs train_bench.py times, one training each: a profile (`profile_run`), the keras-io peer as
published (`keras_io_recipe`), and the validation-only search between settings (`search`).

Imported by train_bench.py after it has chosen Keras' backend, and by work_figure.py for the keras-io
network's work; as a sibling script, not part of the package.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import load_dataset, one_hot, to_model_input
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.training.loop import train
from mnist_cnn.training.work import result_work, training_work

ROOT = Path(__file__).resolve().parents[1]


KERAS_IO = {"epochs": 15, "batch_size": 128, "train_images": 54_000}  # 60,000 less its 10 % split


def keras_io_network() -> keras.Model:
    """The keras-io "Simple MNIST convnet" network as published."""
    return keras.Sequential(
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


def keras_io_recipe(seed: int, settings: list[str]) -> dict:
    """The keras-io "Simple MNIST convnet" example as published."""
    keras.utils.set_random_seed(seed)
    config = Config.from_profile("full", data_dir=ROOT / "data", val_size=0)
    ds = load_dataset(config)  # all 60,000 training images: the example splits off 10 % itself
    model = keras_io_network()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = to_model_input(ds.train_x), one_hot(ds.train_y)
    began: list[float] = []
    epoch_seconds: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: began.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: epoch_seconds.append(time.perf_counter() - began[-1]))
    started = time.perf_counter()
    model.fit(x, y, batch_size=KERAS_IO["batch_size"], epochs=KERAS_IO["epochs"], validation_split=0.1,
              verbose=0, callbacks=[timer])
    seconds = time.perf_counter() - started
    out = run_record(seconds, test_accuracy(model, ds.test_x, ds.test_y), epoch_seconds, "float32")
    out["work"] = training_work(model, KERAS_IO["train_images"], KERAS_IO["batch_size"], KERAS_IO["epochs"],
                                whole_batches=False)
    return out


def profile_run(profile: str, seed: int, settings: list[str], read_test: bool = True) -> dict:
    """One training of a profile; `read_test=False` (a search) leaves the test set unread."""
    with tempfile.TemporaryDirectory() as scratch:
        config = Config.from_profile(
            profile, seed=seed, data_dir=ROOT / "data", run_dir=Path(scratch) / "run"
        ).with_settings(settings)
        ds = load_dataset(config)
        result = train(config, ds, report=lambda line: print(f"  [{profile} {seed}] {line}", flush=True))
    accuracy = test_accuracy(result.model, ds.test_x, ds.test_y) if read_test else None
    seconds = [s for member in (result.members or [result]) for s in member.history["seconds"]]
    out = run_record(result.train_seconds, accuracy, seconds, result.precision)
    out["best_epoch"] = result.best_epoch
    out["work"] = result_work(result, len(ds.train_x), config.batch_size)
    # the settings it trained with, resolved: a later change of a default cannot rewrite what ran
    out["config"] = {key: value for key, value in config.to_dict().items()
                     if key not in ("data_dir", "models_dir", "figures_dir", "run_dir")}
    # the validation accuracy the checkpoint was chosen on: candidates are compared on it, not on test
    out["best_val_accuracy"] = float(result.history["val_accuracy"].iloc[result.best_epoch - 1])
    if result.members:  # an ensemble: its own validation accuracy, and each member's on both splits
        out["best_val_accuracy"] = test_accuracy(result.model, ds.val_x, ds.val_y)
        out["members"] = [
            {"seed": seed + i, "val_accuracy": float(m.history["val_accuracy"].iloc[m.best_epoch - 1]),
             "test_accuracy": test_accuracy(m.model, ds.test_x, ds.test_y) if read_test else None}
            for i, m in enumerate(result.members)
        ]
    return out


def run_record(seconds: float, accuracy: float | None, epoch_seconds: list[float], precision: str) -> dict:
    """What every run records: train seconds, test accuracy (None where unread), epochs and precision."""
    return {
        "train_seconds": round(seconds, 1),
        "test_accuracy": accuracy,
        "epochs": len(epoch_seconds),
        "epoch_seconds": [round(s, 2) for s in epoch_seconds],
        "precision": precision,
    }


def test_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of `images` the model labels right (named for the split it is mostly given)."""
    return float((predict_probabilities(model, images).argmax(axis=1) == labels).mean())


def search(profile: str, key: str, values: list[str], seeds: list[int], settings: list[str]) -> dict:
    """Each value of `key` trained once per seed, ranked by mean validation accuracy; no test set read.

    Validation moves in steps of 1/6,000, so two candidates within a step of each other are not told
    apart by it: the ranking says so, and the cheaper (faster) one is to be kept.
    """
    candidates = {}
    for value in values:
        runs = {}
        for seed in seeds:
            print(f"search {profile}: {key}={value}, seed {seed} ...", flush=True)
            runs[seed] = profile_run(profile, seed, [*settings, f"{key}={value}"], read_test=False)
            print(f"  validation {runs[seed]['best_val_accuracy']:.4f} at epoch {runs[seed]['best_epoch']}, "
                  f"{runs[seed]['train_seconds']:.1f} s", flush=True)
        accuracies = [r["best_val_accuracy"] for r in runs.values()]
        candidates[value] = {
            "val_accuracy": statistics.mean(accuracies),
            "val_spread": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "train_seconds": round(statistics.mean(r["train_seconds"] for r in runs.values()), 1),
            "runs": {str(seed): r for seed, r in runs.items()},
        }
    ranked = sorted(candidates, key=lambda v: (-candidates[v]["val_accuracy"],
                                               candidates[v]["train_seconds"]))
    return {"profile": profile, "key": key, "seeds": seeds, "ranked": ranked, "candidates": candidates}


def print_search(result: dict) -> None:
    print(f"\n{result['profile']}: {result['key']} by mean validation accuracy over seeds {result['seeds']} "
          "(the test set was not read)")
    best = result["candidates"][result["ranked"][0]]["val_accuracy"]
    for value in result["ranked"]:
        c = result["candidates"][value]
        gap = (best - c["val_accuracy"]) * 6000
        print(f"  {value:>8}  validation {c['val_accuracy']:.4%} (sd {c['val_spread']:.4%}), "
              f"{gap:.1f} images behind the best, {c['train_seconds']:.1f} s")
