"""Test accuracy against training work, for every recipe benched and the published anchors.

Work is the forward pass's multiply-adds per image (Conv2D and Dense layers, `training/work.py`) times
the images every network saw in training: epochs times the whole batches of the 54,000 training
images this project keeps after its validation split (keras-io's example: 54,000 with its last partial
batch). Each recipe's accuracy, epochs and seconds are read from the committed bench JSON named in
RECIPES (means over the seeds it ran); the network is built from the recipe's settings to count its
multiply-adds. The anchors are the published figures quoted in issue 40 (An et al. 2020's M3, ttdoucet/mnist),
each over the 60,000 MNIST training images; Deotte's Kaggle network is drawn as a level only, since no
count of its work was quoted. The second panel is accuracy against seconds, for the recipes of one
run on one machine.

Run: `python bench/work_figure.py` (writes bench/figures/accuracy_vs_work.png and
bench/results/accuracy_vs_work.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# run as a script, this file's folder is on the path
from bench_runs import KERAS_IO, keras_io_network

from mnist_cnn.config import Config
from mnist_cnn.model import build_network
from mnist_cnn.training.work import training_work

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
TRAIN_IMAGES = 54_000
# label, bench JSON, the recipe's name in it, and its network: "keras-io" or (profile, settings)
RECIPES = [
    ("keras-io convnet", "train_bench_cpu2_amd_r3.json", "keras-io", "keras-io"),
    ("original", "train_bench_cpu2_amd_r3.json", "original", ("original", [])),
    ("quick", "train_bench_cpu2_amd_r3.json", "quick", ("quick", [])),
    ("full", "train_bench_cpu2_amd_r3.json", "full", ("full", [])),
    ("full, seeds 1-5 (Xeon)", "train_bench_full_5seeds_amx.json", "full", ("full", [])),
    ("full + standardize, seeds 1-5 (Xeon)", "train_bench_full_standardize_5seeds_amx.json", "full",
     ("full", ["standardize=true"])),
    ("full + standardize, 24 epochs", "train_bench_full_vs_standardize24_amx.json", "candidate",
     ("full", ["standardize=true", "epochs=24"])),
    ("3 x full (ensemble)", "train_bench_cpu2_ensemble.json", "ensemble", ("full", [])),
    ("2 x full, 48 epochs (ensemble)", "train_bench_cpu2_ensemble_long.json", "ensemble",
     ("full", ["epochs=48"])),
]
SECONDS_RUN = "train_bench_cpu2_amd_r3.json"  # the one run whose seconds are compared
# published: accuracy, multiply-adds per image, epochs, networks (MNIST's 60,000 training images)
ANCHORS = [
    ("An et al. 2020, M3", 0.9970, 170e6, 150, 1),
    ("ttdoucet/mnist", 0.9974, 330e6, 11, 1),
    ("ttdoucet/mnist, 10-net vote", 0.9982, 330e6, 11, 10),
]
DEOTTE_SINGLE = 0.9965
# where a label sits from its point (points, alignment), where the default would overlap another
LABEL_PLACES = {"2 x full, 48 epochs (ensemble)": ((-6, 5), "right"), "ttdoucet/mnist": ((6, -3), "left"),
                "full, seeds 1-5 (Xeon)": ((-6, -12), "right"),
                "full + standardize, seeds 1-5 (Xeon)": ((-6, 5), "right"),
                "full + standardize, 24 epochs": ((6, 5), "left")}


def recipe_point(label: str, record: str, name: str, network) -> dict:
    data = json.loads((RESULTS / record).read_text())
    runs = list(data["runs"][name].values())
    # `epochs` in a run counts every network's epochs: the images seen by all of them together
    epochs = statistics.mean(run["epochs"] for run in runs)
    networks = len(runs[0].get("members", [None]))
    if network == "keras-io":  # Keras' own fit(x, y) keeps each epoch's last partial batch
        work = training_work(keras_io_network(), KERAS_IO["train_images"], KERAS_IO["batch_size"], epochs,
                             whole_batches=False)
    else:
        profile, settings = network
        config = Config.from_profile(profile).with_settings(settings)
        work = training_work(build_network(config), TRAIN_IMAGES, config.batch_size, epochs)
    return {
        "label": label, "record": f"bench/results/{record}", "recipe": name,
        "test_accuracy": statistics.mean(run["test_accuracy"] for run in runs),
        "seeds": len(runs), "networks": networks, "epochs_all_networks": epochs,
        "train_seconds": statistics.mean(run["train_seconds"] for run in runs),
        "multiply_adds_per_image": work["multiply_adds_per_image"] * networks,
        "multiply_adds_seen": work["multiply_adds_seen"],
    }


def anchor_point(label: str, accuracy: float, per_image: float, epochs: int, networks: int) -> dict:
    return {"label": label, "test_accuracy": accuracy, "networks": networks, "epochs": epochs,
            "multiply_adds_per_image": per_image * networks,
            "multiply_adds_seen": per_image * 60_000 * epochs * networks}


def draw(points: list[dict], anchors: list[dict]):
    figure, (by_work, by_time) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=(3, 2))
    for point in points:
        by_work.scatter(point["multiply_adds_seen"], 100 * point["test_accuracy"], color="tab:blue")
        offset, align = LABEL_PLACES.get(point["label"], ((5, -11), "left"))
        by_work.annotate(point["label"], (point["multiply_adds_seen"], 100 * point["test_accuracy"]),
                         textcoords="offset points", xytext=offset, ha=align, fontsize=8)
    for point in anchors:
        by_work.scatter(point["multiply_adds_seen"], 100 * point["test_accuracy"], color="tab:orange",
                        marker="s")
        offset, align = LABEL_PLACES.get(point["label"], ((-6, -3), "right"))
        by_work.annotate(point["label"], (point["multiply_adds_seen"], 100 * point["test_accuracy"]),
                         textcoords="offset points", xytext=offset, fontsize=8, ha=align, va="top",
                         color="tab:orange")
    by_work.axhline(100 * DEOTTE_SINGLE, color="tab:orange", linestyle=":", linewidth=1)
    high = max(p["multiply_adds_seen"] for p in anchors)
    by_work.annotate("Deotte (Kaggle), one network: work not quoted", (high, 100 * DEOTTE_SINGLE),
                     textcoords="offset points", xytext=(0, -10), fontsize=8, color="tab:orange", ha="right")
    by_work.set(xscale="log", xlabel="training work: multiply-adds per image x images seen (forward)",
                ylabel="test accuracy (%)", title="Accuracy against training work")
    same_run = [p for p in points if p["record"].endswith(SECONDS_RUN)]
    for point in same_run:
        by_time.scatter(point["train_seconds"], 100 * point["test_accuracy"], color="tab:blue")
        by_time.annotate(point["label"], (point["train_seconds"], 100 * point["test_accuracy"]),
                         textcoords="offset points", xytext=(5, -11), fontsize=8)
    by_time.set(xscale="log", xlabel=f"training seconds (one run: bench/results/{SECONDS_RUN})",
                title="Against seconds, one 2-core CPU")
    for axes in (by_work, by_time):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=ROOT / "bench" / "figures" / "accuracy_vs_work.png",
                        help="the figure (default: bench/figures/accuracy_vs_work.png)")
    parser.add_argument("--json", type=Path, default=RESULTS / "accuracy_vs_work.json",
                        help="the points (default: bench/results/accuracy_vs_work.json)")
    args = parser.parse_args()
    points = [recipe_point(*recipe) for recipe in RECIPES]
    anchors = [anchor_point(*anchor) for anchor in ANCHORS]
    args.png.parent.mkdir(parents=True, exist_ok=True)
    draw(points, anchors).savefig(args.png, dpi=110)
    args.json.write_text(json.dumps({"recipes": points, "anchors": anchors}, indent=1) + "\n")
    for point in [*points, *anchors]:
        print(f"{point['label']:<34} {100 * point['test_accuracy']:6.2f} %  "
              f"{point['multiply_adds_per_image'] / 1e6:8.1f} M per image  "
              f"{point['multiply_adds_seen']:.2e} in training")


if __name__ == "__main__":
    main()
