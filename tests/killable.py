"""`mnist-cnn train` in a subprocess that SIGKILLs itself once the resume point after a chosen epoch is
saved: a run cut off as a lost runtime cuts it, for the resume tests on every device and backend; the
weights it saves and the resume point it leaves, read with h5py, to compare runs by their weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from tests.conftest import ROOT

# argv[1]: the epoch after whose resume point it dies (0: never); with TWO_CPUS set, TensorFlow first
# splits the CPU into two logical devices, as two GPUs would be (JAX: XLA_FLAGS does the same); with
# LOADED_TO set, it writes what a resume loaded there (`loaded_values`) and exits before training
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
if os.environ.get("LOADED_TO"):
    sys.path.insert(0, os.environ["KILLABLE_ROOT"])
    from tests.killable import loaded_values
    load = run_state.load_resume_point
    def load_then_write(model, *args, **kwargs):
        done = load(model, *args, **kwargs)
        import numpy as np
        np.savez(os.environ["LOADED_TO"], **loaded_values(model))
        os._exit(0)
    run_state.load_resume_point = load_then_write
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
    env = {**os.environ, "KILLABLE_ROOT": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", KILLABLE_TRAIN, str(kill_after), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def saved_weights(folder: Path) -> list[np.ndarray]:
    """The weights `killable_train` saved in `folder`'s models/mnist_cnn.h5, in the model's layer order."""
    with h5py.File(folder / "models" / "mnist_cnn.h5", "r") as file:
        group = file["model_weights"]
        return [np.asarray(group[layer][name]) for layer in _names(group, "layer_names")
                for name in _names(group[layer], "weight_names")]


def largest_difference(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    """The largest absolute difference between two runs' weights (same shapes, in the same order)."""
    assert [a.shape for a in first] == [b.shape for b in second]
    return max(float(np.abs(a.astype(np.float64) - b).max()) for a, b in zip(first, second, strict=True))


def _names(group: h5py.Group, attribute: str) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs[attribute]]


def resume_point(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(state.json, every array of the weights file it names by its path there) of `folder`'s run."""
    state = json.loads((folder / "run" / "state.json").read_text())
    values = {}
    with h5py.File(folder / "run" / "backup" / state["weights"], "r") as file:
        file.visititems(lambda key, item: values.update({key: item[()]}) if isinstance(item, h5py.Dataset)
                        else None)
    return state, values


def loaded_values(model) -> dict[str, np.ndarray]:
    """Every variable of a loaded training model, keyed as in its weights file (":" for "/"): each layer's
    (layers/.../vars/i), the optimizer's (optimizer/vars/i, a loss-scaling one's inner optimizer's under
    optimizer/inner_optimizer/vars/i); and the random streams (streams/i) and the weight average's
    pairs (pairs: rows of a variable's key and its average's)."""
    import keras
    from keras.src.utils.naming import to_snake_case

    from mnist_cnn.keras_compat import weight_average_pairs
    from mnist_cnn.training.run_state import random_streams

    keyed = []

    def walk(layer, prefix: str) -> None:  # Keras' paths: class names, numbered from the second on
        keyed.extend((f"{prefix}vars/{i}", v) for i, v in
                     enumerate(layer._trainable_variables + layer._non_trainable_variables))
        seen: dict[str, int] = {}
        for inner in layer.layers if isinstance(layer, keras.Model) else []:
            name = to_snake_case(type(inner).__name__)
            seen[name] = seen.get(name, -1) + 1
            walk(inner, f"{prefix}layers/{name}{f'_{seen[name]}' if seen[name] else ''}/")

    walk(model, "")
    optimizer = model.optimizer
    keyed += [(f"optimizer/vars/{i}", v) for i, v in enumerate(optimizer.variables)]
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        keyed += [(f"optimizer/inner_optimizer/vars/{i}", v) for i, v in enumerate(inner.variables)]
    values = {key: np.asarray(v.numpy()) for key, v in keyed}
    keys: dict[int, list[str]] = {}
    for key, v in keyed:
        keys.setdefault(id(v), []).append(key)
    values |= {f"streams/{i}": np.asarray(s.numpy()) for i, s in enumerate(random_streams(model))}
    values["pairs"] = np.array([[keys[id(v)][0], key] for v, average in weight_average_pairs(optimizer)
                                for key in keys[id(average)]], dtype=str).reshape(-1, 2)
    return {key.replace("/", ":"): value for key, value in values.items()}
