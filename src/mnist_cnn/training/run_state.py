"""The resume point: what survives a lost runtime, and the fingerprint that keeps runs from mixing.

After every epoch the weights (optimizer and random streams included) go to a file named for the
epoch, then `state.json` points at it with the history and the fingerprint: the shaping settings,
the resolved precision, the backend, the network's signature and the data's checksum. A mismatch is
refused (`ResumeMismatchError`). The device is not in it: the same variables load on any device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mnist_cnn import backends
from mnist_cnn.config import SETTINGS_ADDED_LATER, Config
from mnist_cnn.io.errors import InputFileError
from mnist_cnn.io.files import atomic_path, atomic_write
from mnist_cnn.keras_compat import weight_average_pairs

STATE_FILE = "state.json"
BEST_CHECKPOINT = "best.weights.h5"
BACKUP_DIR = "backup"
# where the outputs go and what the test set is do not shape the training: a run may resume with
# another models_dir, or after the data folder moved (its checksum still has to match)
_NOT_IN_FINGERPRINT = frozenset(
    {"models_dir", "figures_dir", "run_dir", "model_name", "device", "data_dir", "train_csv",
     "test_csv", "test_limit",
     "steps_per_execution", "xla",  # how steps are dispatched and compiled, not what they compute
     "tensorboard",  # what is logged on the side
     "members"}  # each member trains in a directory of its own, as a single network
)
_HOW_TO_START_AFRESH = (
    "start afresh with --fresh (fresh=True in Python, fresh_start = True in the notebook) or use "
    "another run directory"
)


class ResumeMismatchError(InputFileError):
    """A run directory that holds another run's state: names it and the first differing setting."""


def fingerprint(
    config: Config, train_checksum: str, policy: str | None = None, backend: str = "tensorflow",
    network: str | None = None,
) -> dict[str, Any]:
    """What must match for a run to resume: settings, resolved policy, backend, network and data."""
    settings = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_FINGERPRINT}
    if policy is not None:
        settings["precision"] = policy
    if network is not None:
        settings["network"] = network
    return {**settings, "backend": backend, "train_data_sha256": train_checksum}


def _first_difference(saved: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    for key in [*wanted, *(k for k in saved if k not in wanted)]:
        if saved.get(key) != wanted.get(key):
            return key
    return None


def read_state(run_dir: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state of the run in `run_dir`, or None when there is none.

    Raises:
        ResumeMismatchError: the state belongs to a run with other settings or data, or is damaged.
    """
    state_file = run_dir / STATE_FILE
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text())
        saved = state["fingerprint"]
        int(state["epochs_done"]), str(state["weights"]), list(state["history"])
    except (OSError, ValueError, KeyError, TypeError):
        reason = f"its {STATE_FILE} is damaged or from an older version; {_HOW_TO_START_AFRESH}"
        raise ResumeMismatchError(run_dir, reason) from None
    if not isinstance(state.get("placement"), dict):  # older states recorded none
        state["placement"] = {}
    saved.setdefault("backend", "tensorflow")  # states written before other backends trained
    saved.setdefault("network", wanted.get("network"))  # and before the network's signature
    for key, default in SETTINGS_ADDED_LATER.items():  # older states trained without them
        saved.setdefault(key, default)
    key = _first_difference(saved, wanted)
    if key == "network":
        raise ResumeMismatchError(
            run_dir,
            "holds an unfinished run of a network with other layers or settings (was the network "
            f"edited?); its weights do not belong to this one: {_HOW_TO_START_AFRESH}",
        )
    if key == "backend":
        raise ResumeMismatchError(
            run_dir,
            f"holds an unfinished run trained on Keras' {saved.get(key)} backend, but Keras runs on "
            f"{wanted.get(key)} here; to go on with it, start again with KERAS_BACKEND={saved.get(key)}, "
            f"or {_HOW_TO_START_AFRESH}",
        )
    if key == "precision":
        where = state["placement"].get("description")
        raise ResumeMismatchError(
            run_dir,
            f"holds an unfinished run trained in {saved.get(key)}{f' on {where}' if where else ''}, "
            f"but here the precision resolves to {wanted.get(key)}; to go on with it, set "
            f"precision={saved.get(key)} (--set precision={saved.get(key)} on the command line, "
            f"precision = \"{saved.get(key)}\" in the notebook's parameters), "
            f"or {_HOW_TO_START_AFRESH}",
        )
    if key is not None:
        raise ResumeMismatchError(
            run_dir,
            f"holds an unfinished run with {key}={saved.get(key)!r}, but this run has "
            f"{key}={wanted.get(key)!r}; resuming would mix the two: {_HOW_TO_START_AFRESH}",
        )
    return state


def save_resume_point(model, run_dir: Path, epochs_done: int, history: list, run_fingerprint: dict[str, Any],
                      average_in_model: bool = False, placement: dict[str, Any] | None = None) -> None:
    """Weights, optimizer, random streams, history and fingerprint after `epochs_done` epochs.

    `average_in_model`: the model holds the weight average and the optimizer the raw weights (as
    SwapEMAWeights leaves them); loading swaps them back. The state names the weights file only
    once it is written in full."""
    backup = run_dir / BACKUP_DIR
    backup.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epochs_done:04d}.weights.h5"
    with atomic_path(backup / name) as partial:
        model.save_weights(partial)
    state = {"epochs_done": epochs_done, "weights": name, "history": history,
             "fingerprint": run_fingerprint, "average_in_model": average_in_model,
             "placement": placement or {},
             "random_streams": [[int(n) for n in v.numpy().ravel()] for v in random_streams(model)],
             "torch_generator": _torch_generator()}
    atomic_write(run_dir / STATE_FILE, lambda h: h.write(json.dumps(state, indent=1)), mode="w")
    for old in backup.glob("epoch-*.weights.h5"):
        if old.name != name:
            old.unlink()


def load_resume_point(
    model, run_dir: Path, state: dict[str, Any] | None
) -> tuple[int, list[dict[str, float]]]:
    """Restore the state's weights into the compiled `model`: (epochs done, history); (0, []) for none.

    Call it in the scope of the strategy the model was built in: the optimizer's variables are
    created here when it has not been built yet."""
    # built here for a fresh run too, so that both start `fit` with the same variables in place
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    if state is None:
        return 0, []
    weights = run_dir / BACKUP_DIR / state["weights"]
    try:
        model.load_weights(weights)
    except OSError as err:  # h5py cannot open it: cut short by a full disk, or damaged
        raise ResumeMismatchError(
            weights, f"the resume point's weights are damaged or unreadable "
            f"({str(err).strip().splitlines()[0]}); {_HOW_TO_START_AFRESH}"
        ) from None
    except ValueError as err:
        raise ResumeMismatchError(
            run_dir, f"its saved weights do not fit this model ({str(err).strip().splitlines()[0]}); "
            f"{_HOW_TO_START_AFRESH}"
        ) from None
    streams, saved = random_streams(model), state.get("random_streams", [])
    if len(saved) != len(streams):
        raise ResumeMismatchError(run_dir, f"its random streams ({len(saved)}) do not fit this model's "
                                           f"({len(streams)}); {_HOW_TO_START_AFRESH}")
    for variable, values in zip(streams, saved, strict=True):
        variable.assign(np.asarray(values, dtype=variable.dtype).reshape(variable.shape))
    if state.get("average_in_model"):
        for variable, average in weight_average_pairs(model.optimizer):
            raw = average.numpy()
            average.assign(variable)
            variable.assign(raw)
    return int(state["epochs_done"]), list(state["history"])


def random_streams(model) -> list:
    """The states of the model's random streams (dropout, augmentation), which weights files skip.

    Without them a resumed run would draw its first epoch's masks and warps again."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights and v.path.endswith("seed_generator_state")]


def _torch_generator() -> list[int] | None:
    """PyTorch's global generator: Keras' dropout draws from it there when a layer has no seed."""
    if backends.active() != "torch":
        return None
    import torch

    return torch.get_rng_state().tolist()


def restore_torch_generator(state: dict[str, Any] | None) -> None:
    """Put PyTorch's global generator where the resume point left it: call it as `fit` begins (Keras
    may draw from it before, building the model on a batch)."""
    if state and state.get("torch_generator") is not None and backends.active() == "torch":
        import torch

        torch.set_rng_state(torch.tensor(state["torch_generator"], dtype=torch.uint8))


def best_epoch(val_accuracy) -> int:
    """The 1-based epoch of the highest validation accuracy; on a tie, the later one.

    A tie is common (6,000 validation images move in steps of 1/6,000) and the later epoch trained at
    a lower learning rate on a one-cycle schedule; the best checkpoint keeps the same one.
    """
    values = [float(v) for v in val_accuracy]
    return max(range(len(values)), key=lambda i: (values[i], i)) + 1


def mark_finished(run_dir: Path) -> None:
    """Record that training ended (every epoch, or an early stop): a rerun loads, it does not train."""
    path = run_dir / STATE_FILE
    if not path.is_file():
        return
    state = json.loads(path.read_text())
    state["finished"] = True
    atomic_write(path, lambda h: h.write(json.dumps(state, indent=1)), mode="w")


def clear_resume_point(run_dir: Path, best_too: bool = False) -> None:
    """Forget a run's resume state (and its best checkpoint), so the next run here starts fresh."""
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    for old in (run_dir / BACKUP_DIR).glob("*.weights.h5"):
        old.unlink()
    if best_too:
        (run_dir / BEST_CHECKPOINT).unlink(missing_ok=True)
