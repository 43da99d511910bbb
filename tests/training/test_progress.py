"""Training you can watch: the bar's text and arithmetic, the command line's bar in a terminal (and
its absence in a pipe), and the time left of an ensemble."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys

import pytest

from mnist_cnn.training import progress as progress_module
from mnist_cnn.training.progress import Progress, ProgressCallback, for_member, format_bar, format_duration
from tests.conftest import ROOT


def test_durations_read_as_a_clock():
    shown = [format_duration(s) for s in (None, 0, 5.4, 65, 3600 + 62)]
    assert shown == ["?", "0:00", "0:05", "1:05", "1:01:02"]


def test_the_bar_shows_steps_rate_and_time_left():
    during = Progress(epoch=3, epochs=16, step=105, steps=210, seconds=5.0, seconds_per_epoch=12.0,
                      seconds_left_epoch=5.0, seconds_left=161.0, steps_per_second=21.0)
    text = format_bar(during)
    assert text.startswith("epoch 3/16  [##########..........] 105/210 steps  21.0 steps/s")
    assert text.endswith("epoch 0:05 left  run 2:41 left")
    first = Progress(1, 16, 16, 210, 40.0, None, None, None)  # the first call also traced the step
    assert "epoch ? left  run ? left" in format_bar(first)
    validating = Progress(3, 16, 210, 210, 11.0, 12.0, 0.0, 156.0, 21.0, member=2, members=3)
    assert format_bar(validating).startswith("network 2/3  epoch 3/16")
    assert "validating" in format_bar(validating)


def test_the_callback_measures_the_rate_after_the_first_call_and_counts_the_epochs_to_come(monkeypatch):
    clock = iter([0.0, 30.0, 31.0, 32.0, 40.0, 40.0, 41.0, 42.0])  # epoch 1 waits 30 s for tracing
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: next(clock))
    seen: list[Progress] = []
    history = [{"epoch": 1.0}]
    callback = ProgressCallback(seen.append, epochs=4, steps=48, history=history, min_interval=0.0)
    callback.on_epoch_begin(0)          # t=0
    callback.on_train_batch_end(15)     # t=30: 16 steps, tracing included: no rate yet
    callback.on_train_batch_end(31)     # t=31: 16 more steps in 1 s
    callback.on_train_batch_end(47)     # t=32: the epoch's last step
    callback.on_epoch_end(0)            # t=40: validation done; the epoch took 40 s
    assert seen[0].steps_per_second is None and seen[0].seconds_left is None
    assert seen[1].steps_per_second == pytest.approx(16.0)
    assert seen[1].seconds_left_epoch == pytest.approx(1.0)
    # until an epoch has ended, the run's time left extrapolates this one: (31 + 1) s an epoch, 3 to come
    assert seen[1].seconds_left == pytest.approx(1.0 + 3 * 32.0)
    ended = seen[3]
    assert ended.epoch_ended and ended.history == ({"epoch": 1.0},)
    assert ended.seconds_per_epoch == pytest.approx(40.0)
    assert ended.seconds_left == pytest.approx(3 * 40.0)
    callback.on_epoch_begin(1)          # t=40
    callback.on_train_batch_end(15)     # t=41: no rate yet, so this epoch is taken to last 40 s too
    assert seen[-1].seconds_left_epoch == pytest.approx(39.0)
    assert seen[-1].seconds_left == pytest.approx(39.0 + 2 * 40.0)
    callback.on_train_batch_end(31)     # t=42: the whole last epoch (40 s) stands for each to come
    assert seen[-1].seconds_left == pytest.approx(16 / 16.0 + 2 * 40.0)
    # network 1 of 3: two more networks of four 40-second epochs
    first_of_three = for_member(lambda p: p, 1, 3)(seen[-1])
    assert first_of_three.seconds_left == pytest.approx(1.0 + 2 * 40.0 + 2 * 4 * 40.0)


def _train_command(tmp_path):
    return [sys.executable, "-m", "mnist_cnn.cli", "train", "--profile", "smoke", "--epochs", "2",
            "--data-dir", str(ROOT / "data"), "--models-dir", str(tmp_path / "models"),
            "--figures-dir", str(tmp_path / "figures"), "--run-dir", str(tmp_path / "run")]


@pytest.mark.slow
def test_in_a_terminal_the_bar_updates_within_each_epoch_and_piped_it_does_not(tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen(_train_command(tmp_path / "tty"), stdin=follower, stdout=follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            process.kill()
            pytest.fail("no output for 300 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=60) == 0
    os.close(leader)
    screen = b"".join(chunks).decode()
    # smoke: 2,000 images in batches of 32, 16 steps a call: the bar is drawn after 16, 32 and 48 of 62
    first_epoch = screen[: screen.index("epoch   1/2  cross-entropy")]
    drawn = [part for part in first_epoch.split("\r\x1b[K") if part.startswith("epoch 1/2  [")]
    assert len(drawn) >= 2, first_epoch
    assert "16/62 steps" in drawn[0] and "run ? left" in drawn[0]  # the first call also traced the step
    assert any("steps/s" in part and "run ?" not in part for part in drawn[1:])
    assert "epoch 2/2  [" in screen

    piped = subprocess.run(_train_command(tmp_path / "pipe"), capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr[-2000:]
    assert "\r" not in piped.stdout and "[#" not in piped.stdout
    lines = piped.stdout.splitlines()
    assert [line[:12] for line in lines if line.startswith("epoch ")] == ["epoch   1/2 ", "epoch   2/2 "]
    before_training = lines[: next(i for i, line in enumerate(lines) if line.startswith("epoch "))]
    assert [line.split(" ")[0] for line in before_training] == ["reading", "profile", "training", "building"]


@pytest.mark.slow
def test_tensorboard_logs_go_to_the_run_directory_only_when_asked(tmp_path, smoke_dataset, monkeypatch):
    from mnist_cnn.config import Config
    from mnist_cnn.training.loop import train

    lines: list[str] = []
    config = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=tmp_path / "on", tensorboard=True)
    train(config, smoke_dataset, report=lines.append)
    events = list((tmp_path / "on" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and any("train" in str(path) for path in events)
    assert any(line.startswith("TensorBoard logs in ") for line in lines)
    # without the package: one line, and training goes on
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    lines.clear()
    missing = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=tmp_path / "missing",
                                  tensorboard=True)
    assert train(missing, smoke_dataset, report=lines.append).epochs_run == 1
    assert any("the tensorboard package is not installed" in line for line in lines)
    monkeypatch.undo()
    # off by default, and not part of the resume fingerprint
    off = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=tmp_path / "off")
    train(off, smoke_dataset)
    assert not (tmp_path / "off" / "tensorboard").exists()
    from mnist_cnn.training.run_state import fingerprint

    assert fingerprint(config, "x") == fingerprint(off, "x")
