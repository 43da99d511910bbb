"""Inference speed of the saved model on this machine: throughput one at a time and in batches, and
the latency of `mnist-cnn predict` on one image, start-up included.

Measured on the 10,000 test images:
- one at a time through Keras (`model.predict` on a single image: what a naive loop does), through
  the model's compiled serving function (`model.export`'s SavedModel `serve`), and through the
  LiteRT/TFLite interpreter;
- in batches of 1,000 through Keras and through TFLite;
- the `mnist-cnn predict MODEL IMAGE` command end to end (a new process each time: Python,
  TensorFlow and the model load included), next to `python -c "import tensorflow"` alone.
Run: `python bench/infer_bench.py [--model models/mnist_cnn.keras] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.serving.export import export_model, load_exported
from mnist_cnn.serving.model_io import load_model
from mnist_cnn.training.devices import cpu_description

ROOT = Path(__file__).resolve().parents[1]


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def one_at_a_time(predict, images: np.ndarray) -> float:
    """Images per second, calling `predict` on (1, 28, 28, 1) arrays one after another."""
    predict(images[:1])  # warm-up: tracing and allocation are not inference
    return per_second(len(images), timed(lambda: [predict(images[i : i + 1]) for i in range(len(images))]))


def in_batches(predict, images: np.ndarray, batch: int = 1000) -> float:
    predict(images[:batch])
    return per_second(
        len(images), timed(lambda: [predict(images[i : i + batch]) for i in range(0, len(images), batch)])
    )


def command_latency(
    model_path: Path, tflite_path: Path, image: Path, repeats: int
) -> tuple[float, float, float]:
    """Median seconds of `mnist-cnn predict` on one image with the .keras model and with the .tflite
    export, and of importing TensorFlow alone."""
    command = shutil.which("mnist-cnn") or shutil.which("mnist-cnn", path=str(Path(sys.executable).parent))
    argv = [command] if command else [sys.executable, "-m", "mnist_cnn.cli"]

    def median_run(args: list[str]) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return (
        median_run([*argv, "predict", str(model_path), str(image)]),
        median_run([*argv, "predict", str(tflite_path), str(image)]),
        median_run([sys.executable, "-c", "import tensorflow"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=ROOT / "models" / "mnist_cnn.keras",
        help="saved model (default: models/mnist_cnn.keras)",
    )
    parser.add_argument(
        "--single", type=int, default=1000,
        help="images predicted one at a time through Keras' predict, the slowest way (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="command runs to take the median of (default: %(default)s)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON (default: none)")
    args = parser.parse_args()

    images, _ = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    x = to_model_input(images)
    started = time.perf_counter()
    model = load_model(args.model)
    load_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        exports = {}
        for fmt, name in (("savedmodel", "model_savedmodel"), ("tflite", "model.tflite")):
            export_model(model, Path(scratch) / name, fmt, sample=x[:8])
            exports[fmt] = load_exported(Path(scratch) / name, fmt)
        figures = {
            "model_load_s": load_seconds,
            "single_keras_predict_per_s": one_at_a_time(
                lambda batch: model.predict(batch, verbose=0), x[: args.single]
            ),
            "single_savedmodel_serve_per_s": one_at_a_time(exports["savedmodel"], x),
            "single_tflite_per_s": one_at_a_time(exports["tflite"], x),
            "batch1000_keras_per_s": in_batches(lambda batch: model.predict(batch, verbose=0), x),
            "batch1000_tflite_per_s": in_batches(exports["tflite"], x),
        }
        sample = Path(scratch) / "digit.png"
        shutil.copy(ROOT / "data" / "samples" / "drawn_7.png", sample)
        (figures["command_predict_one_image_s"], figures["command_predict_tflite_one_image_s"],
         figures["import_tensorflow_s"]) = command_latency(
            args.model, Path(scratch) / "model.tflite", sample, args.repeats
        )

    print(f"model {args.model} ({args.model.stat().st_size / 1e6:.2f} MB), on {cpu_description()}")
    print(f"  load the .keras model                         {figures['model_load_s']:8.2f} s")
    print("  one image at a time (images per second):")
    print(f"    Keras model.predict                         {figures['single_keras_predict_per_s']:8.0f}")
    print(f"    SavedModel serve (compiled graph)           {figures['single_savedmodel_serve_per_s']:8.0f}")
    print(f"    TFLite interpreter                          {figures['single_tflite_per_s']:8.0f}")
    print("  batches of 1,000 (images per second):")
    print(f"    Keras model.predict                         {figures['batch1000_keras_per_s']:8.0f}")
    print(f"    TFLite interpreter                          {figures['batch1000_tflite_per_s']:8.0f}")
    print(f"  `mnist-cnn predict MODEL one.png`, end to end  {figures['command_predict_one_image_s']:8.2f} s")
    print(f"    of which `import tensorflow` alone          {figures['import_tensorflow_s']:8.2f} s")
    tflite_seconds = figures["command_predict_tflite_one_image_s"]
    print(f"  `mnist-cnn predict MODEL.tflite one.png`      {tflite_seconds:8.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
