"""How fast the embedded CSVs load: this package's loader against pandas' default read_csv.

Times, alternating in one run so machine noise hits all alike, the median of `--repeat` rounds of
pandas' `pd.read_csv(path)` (no validation) and `load_csvs` (parsing and validating both files).
Run: `python bench/load_bench.py [--repeat 5]`. Target: the load <= 0.5 x pandas.
`--plumbing FILE` times the C scanner against its NumPy fallback too, against a training run's seconds
(models/metrics.json), and writes the rounds to FILE (bench/results/load_plumbing_<cpu>.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd

from mnist_cnn.data import csv_format, dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
FILES = [DATA / "mnist_train.csv.gz", DATA / "mnist_test.csv.gz"]


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def numpy_fallback_load() -> None:
    """A load with the C scanner hidden, as where it could not be built."""
    scanner, csv_format._fastcsv = csv_format._fastcsv, None
    try:
        dataset.load_csvs(FILES)
    finally:
        csv_format._fastcsv = scanner


def plumbing(repeat: int, path: Path) -> None:
    """Time each load `repeat` times, interleaved; write the rounds and the scanner's share of a run."""
    from mnist_cnn.training.devices import cpu_description  # TensorFlow-free

    if csv_format._fastcsv is None:
        raise SystemExit("the C scanner is not built here: nothing to compare the NumPy fallback with")
    actions = {
        "load_c_scanner": lambda: dataset.load_csvs(FILES),
        "load_numpy_fallback": numpy_fallback_load,
        "pandas_read_csv_no_validation": lambda: [pd.read_csv(f) for f in FILES],
    }
    # CPU seconds too (all threads): they hold where other jobs share the cores and stretch wall time
    rounds = {name: [] for name in actions}
    cpu = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            started = time.process_time()
            rounds[name].append(round(timed(action), 3))
            cpu[name].append(round(time.process_time() - started, 3))
    train = json.loads((ROOT / "models" / "metrics.json").read_text())
    best = {name: min(times) for name, times in rounds.items()}
    saves = {"c_scanner_over_numpy_fallback": best["load_numpy_fallback"] - best["load_c_scanner"]}
    seconds = train["train_seconds"]
    record = {"cpu": cpu_description(), "files": [f.name for f in FILES], "repeat": repeat,
              "seconds": rounds, "min_seconds": best, "cpu_seconds": cpu,
              "min_cpu_seconds": {name: min(times) for name, times in cpu.items()},
              "run_train_seconds": seconds, "run_cpu": train["cpu"],
              "saved_seconds": {k: round(v, 3) for k, v in saves.items()},
              "saved_percent_of_run": {k: round(100 * v / seconds, 2) for k, v in saves.items()}}
    path.write_text(json.dumps(record, indent=2) + "\n")
    for name, value in best.items():
        print(f"  {name:<32} {value:6.3f} s (min of {repeat})")
    for name, value in record["saved_percent_of_run"].items():
        print(f"  {name} saves {saves[name]:.3f} s, {value:.2f} % of a {seconds} s training")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds to take the median of (default: 5)"
    )
    parser.add_argument("--plumbing", type=Path, help="time the C scanner and its fallback; write this JSON")
    args = parser.parse_args()
    if args.plumbing:
        plumbing(args.repeat, args.plumbing)
        return

    rounds = {"pandas read_csv": [], "load (parse + validate)": []}
    for _ in range(args.repeat):
        rounds["pandas read_csv"].append(timed(lambda: [pd.read_csv(f) for f in FILES]))
        rounds["load (parse + validate)"].append(timed(lambda: dataset.load_csvs(FILES)))

    medians = {name: statistics.median(times) for name, times in rounds.items()}
    baseline = medians["pandas read_csv"]
    accelerator = "C accelerator" if csv_format._fastcsv is not None else "NumPy fallback"
    print(f"Both embedded files (70,000 rows), median of {args.repeat} rounds, {accelerator}:")
    for name, median in medians.items():
        print(f"  {name:<32} {median:6.3f} s   {median / baseline:5.2f} x pandas")
    load = medians["load (parse + validate)"] / baseline
    print(f"load: {load:.2f} x pandas (target <= 0.50): {'met' if load <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
