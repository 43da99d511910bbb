"""bench/ensemble_probe.py: its group syntax, how it scores averaged logits and which mixes it compares,
and a whole smoke run that trains, scores on validation only, and reuses its members when run again."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, load_bench_script

SCRIPT = ROOT / "bench" / "ensemble_probe.py"


@pytest.fixture(scope="module")
def probe():
    yield load_bench_script("ensemble_probe")
    del sys.modules["ensemble_probe"]


def test_a_group_is_a_count_then_settings(probe):
    group = probe.parse_group("5 convs_per_block=1,2 epochs=12")
    assert (group.members, group.settings) == (5, ["convs_per_block=1,2", "epochs=12"])
    assert group.slug == "convs_per_block=1,2_epochs=12"
    assert probe.parse_group("3").slug == "profile"
    for text in ("convs_per_block=1,2", "0", "-1 epochs=3"):
        with pytest.raises(argparse.ArgumentTypeError, match="member count"):
            probe.parse_group(text)


def test_averaged_logits_can_right_what_each_member_gets_wrong(probe):
    labels = np.array([0, 1, 2])
    # member a is wrong on image 0 by a little, member b on image 1 by a little; each is confident elsewhere
    a = np.array([[1.0, 1.5, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    b = np.array([[5.0, 0.0, 0.0], [0.0, 1.0, 1.5], [0.0, 0.0, 5.0]])
    assert probe.score([a], labels)["wrong"] == [0]
    assert probe.score([b], labels)["wrong"] == [1]
    both = probe.score([a, b], labels)
    assert (both["errors"], both["wrong"], both["accuracy"]) == (0, [], 1.0)


def test_mixes_cover_each_groups_prefixes_and_every_pair_of_prefixes(probe):
    def group(label, n, seconds):
        members = [(f"{label} #{k}", np.zeros((1, 3)), seconds) for k in range(1, n + 1)]
        return {"label": label, "members": members}

    mixes = probe.mixes([group("a", 2, 10.0), group("b", 3, 1.0)])
    names = [m["name"] for m in mixes]
    assert names[:5] == ["a: first 1", "a: first 2", "b: first 1", "b: first 2", "b: first 3"]
    assert len(names) == 5 + 2 * 3 and "all groups" not in names
    mixed = next(m for m in mixes if m["name"] == "a: 2 + b: 3")
    assert mixed["members"] == ["a #1", "a #2", "b #1", "b #2", "b #3"]
    assert mixed["train_seconds"] == 23.0 and len(mixed["logits"]) == 5
    three = probe.mixes([group("a", 1, 1.0), group("b", 1, 1.0), group("c", 1, 1.0)])
    assert three[-1]["name"] == "all groups" and len(three[-1]["members"]) == 3


@pytest.mark.slow
def test_a_smoke_probe_trains_scores_validation_and_reuses_its_members(tmp_path):
    out = tmp_path / "probe.json"
    command = [sys.executable, str(SCRIPT), "--profile", "smoke", "--group", "2",
               "--group", "1 dense_units=16", "--run-root", str(tmp_path / "runs"), "--json", str(out)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["validation_images"] == 500 and record["seed"] == 1
    assert [len(g["members"]) for g in record["groups"]] == [2, 1]
    assert [m["seed"] for m in record["groups"][0]["members"]] == [1, 2]
    assert len(record["mixes"]) == 2 + 1 + 2 * 1
    for mix in record["mixes"]:
        assert mix["errors"] == len(mix["wrong"]) and 0 <= mix["errors"] <= 500

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("epochs already done") == 3  # every member reused, none trained again
    assert json.loads(out.read_text())["mixes"] == record["mixes"]
