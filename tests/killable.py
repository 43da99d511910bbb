"""`mnist-cnn train` in a subprocess that SIGKILLs itself once the resume point after a chosen epoch is
saved: a run cut off as a lost runtime cuts it, for the resume tests on every device and backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# argv[1]: the epoch after whose resume point it dies (0: never); with TWO_CPUS set, TensorFlow first
# splits the CPU into two logical devices, as two GPUs would be (JAX: XLA_FLAGS does the same)
KILLABLE_TRAIN = """
import os, signal, sys
if os.environ.get("TWO_CPUS"):
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mnist_cnn.training import run_state
kill_after, save = int(sys.argv[1]), run_state.save_resume_point
def save_then_die(model, run_dir, epochs_done, *args, **kwargs):
    save(model, run_dir, epochs_done, *args, **kwargs)
    if epochs_done == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
run_state.save_resume_point = save_then_die
from mnist_cnn.cli import main
sys.exit(main(sys.argv[2:]))
"""

SMALL = ["--set", "train_limit=800", "--set", "val_size=200", "--set", "test_limit=300"]


def killable_train(folder: Path, settings: list[str], device: str = "auto", kill_after: int = 0,
                   env: dict[str, str] | None = None, epochs: int = 2) -> subprocess.CompletedProcess:
    """`mnist-cnn train --profile smoke` on a small sample into `folder`, with `--set` `settings`."""
    args = ["train", "--profile", "smoke", "--epochs", str(epochs), "--device", device,
            "--data-dir", str(ROOT / "data"), "--models-dir", str(folder / "models"),
            "--figures-dir", str(folder / "figures"), "--run-dir", str(folder / "run"), *SMALL]
    for setting in settings:
        args += ["--set", setting]
    return subprocess.run([sys.executable, "-c", KILLABLE_TRAIN, str(kill_after), *args],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
