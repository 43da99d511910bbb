"""Writes the reviewed MNIST test-label errors from cleanlab/label-errors' `mturk/mnist_mturk.json`
into src/mnist_cnn/evaluation/mnist_test_label_errors.csv.

Northcutt et al. 2021 ("Pervasive Label Errors in Test Sets Destabilize Machine Learning Benchmarks")
showed 100 MNIST test images that their method flagged to five Mechanical Turk reviewers each. Kept
here: the images where fewer than three of the five accepted the given label (15 of them). The indices
count from 0 in the standard MNIST test order, which Kaggle's "MNIST in CSV" keeps.

Run: `python data/make_label_errors.py path/to/label-errors/mturk/mnist_mturk.json`
(source: https://github.com/cleanlab/label-errors, commit 6d5d6b3, Apache-2.0).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

# package data, so every install of mnist_cnn (not only a clone) marks them
TARGET = Path(__file__).resolve().parents[1] / "src/mnist_cnn/evaluation/mnist_test_label_errors.csv"
ACCEPTED_BY_AT_LEAST = 3  # of 5 reviewers: below this, the given label is disputed


def main(source: str) -> None:
    records = json.loads(Path(source).read_text())
    rows = [r for r in records if r["mturk"]["given"] < ACCEPTED_BY_AT_LEAST]
    with TARGET.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["test_index", "given_label", "suggested_label", "reviewers_for_given",
                         "reviewers_for_suggested", "reviewers_for_neither"])
        for r in sorted(rows, key=lambda r: r["id"]):
            votes = r["mturk"]
            writer.writerow([r["id"], r["given_original_label"], r["our_guessed_label"],
                             votes["given"], votes["guessed"], votes["neither"]])


if __name__ == "__main__":
    main(sys.argv[1])
