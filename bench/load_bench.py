"""How fast the embedded CSVs load: this package's loader against pandas' default read_csv.

Times, alternating in one run so machine noise hits all alike, the median of `--repeat` rounds of:
- pandas: `pd.read_csv(path)` with its defaults on both files (no validation at all);
- first load: `load_csvs` parsing and validating both files, no cache;
- cached load: `load_csvs` again, from the cache beside the data (checksums still verified).
Run: `python bench/load_bench.py [--repeat 5]`. Targets: first load <= 0.5 x pandas; cached < 0.2 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from mnist_cnn.data import csv_format, dataset

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = [DATA / "mnist_train.csv.gz", DATA / "mnist_test.csv.gz"]


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds to take the median of (default: 5)"
    )
    args = parser.parse_args()

    dataset.load_csvs(FILES)  # make sure the cache exists for the cached rounds
    rounds = {"pandas read_csv": [], "first load (parse + validate)": [], "cached load": []}
    for _ in range(args.repeat):
        rounds["pandas read_csv"].append(timed(lambda: [pd.read_csv(f) for f in FILES]))
        rounds["first load (parse + validate)"].append(
            timed(lambda: dataset.load_csvs(FILES, use_cache=False))
        )
        rounds["cached load"].append(timed(lambda: dataset.load_csvs(FILES)))

    medians = {name: statistics.median(times) for name, times in rounds.items()}
    baseline = medians["pandas read_csv"]
    accelerator = "C accelerator" if csv_format._fastcsv is not None else "NumPy fallback"
    print(f"Both embedded files (70,000 rows), median of {args.repeat} rounds, {accelerator}:")
    for name, median in medians.items():
        print(f"  {name:<32} {median:6.3f} s   {median / baseline:5.2f} x pandas")
    first = medians["first load (parse + validate)"] / baseline
    print(
        f"first load: {first:.2f} x pandas (target <= 0.50): {'met' if first <= 0.5 else 'NOT met'}"
    )
    cached = medians["cached load"]
    print(f"cached load: {cached:.3f} s (target < 0.2 s): {'met' if cached < 0.2 else 'NOT met'}")


if __name__ == "__main__":
    main()
