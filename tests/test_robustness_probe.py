"""bench/robustness_validation.py: its summary over seeds, and a smoke run scored on validation only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT, load_bench_script

SCRIPT = ROOT / "bench" / "robustness_validation.py"


def test_the_summary_is_the_mean_and_spread_over_seeds():
    probe = load_bench_script("robustness_validation")
    runs = [{"seed": s, "val_accuracy": v, "corruption_mean": c, "corruptions": {"fog": f}}
            for s, v, c, f in ((1, 0.99, 0.70, 0.1), (2, 0.97, 0.74, 0.3))]
    summary = probe.summary(runs)
    assert summary["seeds"] == [1, 2] and summary["corruptions"] == {"fog": pytest.approx(0.2)}
    assert summary["val_accuracy"] == pytest.approx(0.98)
    assert summary["corruption_mean_std"] == pytest.approx(0.02 ** 0.5 * 0.2)  # sample deviation
    assert probe.summary(runs[:1])["val_accuracy_std"] == 0.0
    del sys.modules["robustness_validation"]


def test_a_smoke_run_scores_both_arms_on_the_validation_split(tmp_path):
    out = tmp_path / "record.json"
    command = [sys.executable, str(SCRIPT), "--profile", "smoke", "--set", "standardize=true", "--seeds", "1",
               "--json", str(out), "--scratch", str(tmp_path / "runs")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert list(record["summary"]) == ["smoke", "smoke + standardize=true"]
    assert record["split"].startswith("validation")
    for runs in record["runs"].values():
        assert [run["seed"] for run in runs] == [1] and len(runs[0]["corruptions"]) == 15
        # 500 validation images in smoke: every accuracy is a whole number of them
        accuracies = (runs[0]["val_accuracy"], *runs[0]["corruptions"].values())
        assert all(round(v * 500, 6).is_integer() for v in accuracies)
    # the candidate's setting reached its network: standardising changes what it learns
    first, second = (runs[0] for runs in record["runs"].values())
    assert first["corruptions"] != second["corruptions"]
    assert not (tmp_path / "models").exists() and (tmp_path / "runs" / "candidate-1" / "run").is_dir()
