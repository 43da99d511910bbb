"""Test-time augmentation, measured: does averaging a few shifted copies of each image pay for itself?

For a saved model (default: the committed one) and the validation split it was trained beside (the
config recorded in metrics.json: same seed, same split), it predicts each validation image as it is
and averaged over fixed shifts of one pixel (4 or 8 neighbours), and prints the accuracy, the errors and
the prediction time of each. The choice is made on validation; the test set is not read.

Run: `python bench/tta_probe.py [--model models/mnist_cnn.keras] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import load_dataset
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.serving.model_io import load_model
from mnist_cnn.training.devices import cpu_description

ROOT = Path(__file__).resolve().parents[1]
SHIFTS = {
    "none": [(0, 0)],
    "4 shifts of 1 px": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)],
    "8 shifts of 1 px": [(0, 0), *[(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]],
}


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images moved by (dy, dx) pixels, the uncovered border black (MNIST's background)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = \
        images[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mnist_cnn.keras",
                        help="the saved model (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    args = parser.parse_args()
    recorded = json.loads((args.model.parent / "metrics.json").read_text())["config"]
    config = Config.from_profile(recorded["profile"], seed=recorded["seed"], data_dir=ROOT / "data")
    data = load_dataset(config)
    model = load_model(args.model)
    print(f"On {cpu_description()}; {args.model.name}, validation split of seed {config.seed} "
          f"({len(data.val_y):,} images)")
    results = {}
    for name, moves in SHIFTS.items():
        started = time.perf_counter()
        each = [predict_probabilities(model, shifted(data.val_x, dy, dx)) for dy, dx in moves]
        probabilities = np.mean(each, axis=0)
        seconds = time.perf_counter() - started
        errors = int((probabilities.argmax(axis=1) != data.val_y).sum())
        results[name] = {"val_accuracy": 1 - errors / len(data.val_y), "val_errors": errors,
                         "seconds": round(seconds, 2)}
        accuracy = results[name]["val_accuracy"]
        print(f"  {name:<18} validation {accuracy:.4%} ({errors} errors), {seconds:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_description(), "model": args.model.name,
                                         "seed": config.seed, "results": results}, indent=2))


if __name__ == "__main__":
    main()
