"""bench/train_bench.py's comparison of a candidate with `full` in one run: the order the trainings
run in (recipe by recipe, or seed by seed with --interleave), and a whole tiny run of both."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, load_bench_script

SCRIPT = ROOT / "bench" / "train_bench.py"
TINY = ["train_limit=2000", "val_size=500", "test_limit=1000", "epochs=1", "conv_filters=8,16",
        "dense_units=32", "convs_per_block=1"]


@pytest.fixture(scope="module")
def bench():
    yield load_bench_script("train_bench")
    del sys.modules["train_bench"]


def test_trainings_run_recipe_by_recipe_or_seed_by_seed(bench):
    only, seeded, seeds = ["original", "full", "candidate"], ["full", "candidate"], [1, 2, 3]
    assert bench.jobs(only, seeded, seeds, interleave=False) == [
        ("original", 1), ("full", 1), ("full", 2), ("full", 3),
        ("candidate", 1), ("candidate", 2), ("candidate", 3)]
    assert bench.jobs(only, seeded, seeds, interleave=True) == [
        ("original", 1), ("full", 1), ("candidate", 1), ("full", 2), ("candidate", 2),
        ("full", 3), ("candidate", 3)]


@pytest.mark.slow
def test_a_candidate_and_full_alternate_in_one_run_and_are_compared(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(SCRIPT), "--only", "full,candidate", "--seeded", "full,candidate",
               "--seeds", "1,2", *[arg for setting in TINY for arg in ("--set", setting)],
               "--candidate", "dense_units=16", "--interleave", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    order = [line.split("training ")[1] for line in done.stdout.splitlines() if line.startswith("training ")]
    assert order == ["full, seed 1 ...", "candidate, seed 1 ...", "full, seed 2 ...", "candidate, seed 2 ..."]
    assert "candidate: " in done.stdout and "of full's time in this run" in done.stdout
    record = json.loads(out.read_text())
    assert set(record["summary"]) == {"full", "candidate"}
    for seed in ("1", "2"):
        assert record["runs"]["full"][seed]["config"]["dense_units"] == 32
        assert record["runs"]["candidate"][seed]["config"]["dense_units"] == 16
        assert record["runs"]["candidate"][seed]["config"]["seed"] == int(seed)
