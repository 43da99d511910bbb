"""Every precision and device a user can get trains, is killed, resumes and saves (on the CPU, with each
GPU setting forced: Keras computes float16 there too, slowly), and a resume that cannot go on exactly
is refused before training.

Colab's T4 trains `full` in mixed_float16 with loss scaling, where a resume once crashed; an explicit
device (or a TPU, or several GPUs) builds the model under a tf.distribute strategy, where a resume
once built the optimizer outside it; a GPU with determinism off once compiled the augmentation with
XLA, which has no kernel for it. Each is a case below. Not the whole product of settings: each
policy, device kind and switch at least once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mnist_cnn.config import Config
from mnist_cnn.keras_compat import weight_average_pairs
from mnist_cnn.training import loop, session
from mnist_cnn.training.devices import Gpu
from mnist_cnn.training.run_state import ResumeMismatchError
from tests.conftest import ROOT
from tests.killable import killable_train

pytestmark = pytest.mark.slow

# (case, settings, device, two logical CPUs): each policy, the weight average on and off, determinism
# on and off with XLA where "auto" would compile, the default device, an explicit one, two replicas
CASES = [
    ("float32, average, default device", ["precision=float32", "ema_momentum=0.9"], "auto", False),
    ("bfloat16, explicit cpu", ["precision=mixed_bfloat16"], "cpu", False),
    ("float16 with loss scaling and the average, determinism off",
     ["precision=mixed_float16", "ema_momentum=0.999", "deterministic=false"], "auto", False),
    ("float16, no augmentation, XLA as on a GPU",
     ["precision=mixed_float16", "augment=false", "deterministic=false", "xla=on"], "auto", False),
    ("two replicas, float32, average", ["precision=float32", "ema_momentum=0.9"], "mirrored", True),
]


def _train(tmp_path, settings, device, two_cpus, kill_after):
    return killable_train(tmp_path, settings, device, kill_after, {"TWO_CPUS": "1"} if two_cpus else None)


@pytest.mark.parametrize("case, settings, device, two_cpus", CASES, ids=[c[0] for c in CASES])
def test_killed_after_an_epoch_the_same_command_resumes_and_saves(tmp_path, case, settings, device, two_cpus):
    killed = _train(tmp_path, settings, device, two_cpus, kill_after=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epochs_done"] == 1
    policy = next(s.split("=")[1] for s in settings if s.startswith("precision="))
    assert state["fingerprint"]["precision"] == policy  # what was resolved is what a resume must match

    resumed = _train(tmp_path, settings, device, two_cpus, kill_after=0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = resumed.stdout.splitlines()
    assert any(line.startswith("resuming from") and "1 of 2 epochs already done" in line for line in lines)
    assert not any(line.startswith("epoch   1/2") for line in lines)
    assert any(line.startswith("epoch   2/2") for line in lines)
    metrics = json.loads((tmp_path / "models" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["precision"]["policy"] == policy
    assert metrics["placement"]["kind"] == "cpu"
    assert metrics["placement"]["replicas"] == (2 if two_cpus else 1)
    assert metrics["xla"]["on"] is ("xla=on" in settings)
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    assert all((tmp_path / "models" / name).is_file() for name in ("mnist_cnn.keras", "mnist_cnn.h5"))


def test_a_run_killed_on_one_device_resumes_on_two(tmp_path):
    """The resume point's paths follow the batch-norm layer's class, which stays the same whatever the
    replicas (fused, synchronized on several): a one-GPU run goes on on two."""
    settings = ["precision=float32", "ema_momentum=0.9"]
    killed = _train(tmp_path, settings, "auto", False, kill_after=1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    resumed = _train(tmp_path, settings, "mirrored", True, kill_after=0)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "1 of 2 epochs already done" in resumed.stdout and "2 replicas" in resumed.stdout
    metrics = json.loads((tmp_path / "models" / "metrics.json").read_text())
    assert metrics["placement"]["replicas"] == 2 and metrics["epochs_run"] == 2


def test_two_replicas_train_what_one_trains(tmp_path):
    """The profile's batch is the global batch: two replicas take the same steps per epoch and the same
    learning rates as one, and reach the same accuracy within a stated tolerance (dropout and the warp
    draw differently per replica; batch-norm statistics are the whole batch's)."""
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from mnist_cnn.config import Config
        from mnist_cnn.data.dataset import load_dataset
        from mnist_cnn.training.loop import train
        out = {{}}
        for device in ("cpu", "mirrored"):
            config = Config.from_profile("smoke", device=device, data_dir={str(ROOT / "data")!r},
                                         run_dir={str(tmp_path)!r} + "/" + device, epochs=2,
                                         precision="float32", deterministic=False)
            result = train(config, load_dataset(config))
            out[device] = {{"lr": result.history["learning_rate"].tolist(),
                            "val": result.history["val_accuracy"].tolist(),
                            "replicas": result.placement["replicas"]}}
        print("RESULT", json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT")[-1])
    one, two = out["cpu"], out["mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    # the same schedule position after each epoch: the same number of steps, the same batch
    np.testing.assert_allclose(two["lr"], one["lr"], rtol=1e-6)
    # tolerance: 3 points of validation accuracy (500 images; seeds alone move smoke by about 2)
    assert abs(two["val"][-1] - one["val"][-1]) <= 0.03, (one, two)


def test_synchronized_batch_norm_for_several_replicas_holds_the_same_weights():
    import keras

    from mnist_cnn.model import build_model, classifier_of
    from mnist_cnn.training.fused_norm import build_training_model

    for profile in ("smoke", "original"):
        config = Config.from_profile(profile)
        synced = classifier_of(build_training_model(config, replicas=2))
        norms = [layer for layer in synced.layers if isinstance(layer, keras.layers.BatchNormalization)]
        assert norms and all(layer.synchronized for layer in norms)
        # the same classes as on one replica: the resume point's paths do not change
        single = classifier_of(build_training_model(config, replicas=1))
        assert [type(layer) for layer in synced.layers] == [type(layer) for layer in single.layers]
        plain = classifier_of(build_model(config))
        assert [w.shape for w in synced.get_weights()] == [w.shape for w in plain.get_weights()]


class _CutOffError(Exception):
    pass


def _cut_off_after_epoch_1(line):
    if line.startswith("epoch   1/"):
        raise _CutOffError(line)


def _smoke(tmp_path, **settings):
    return Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=tmp_path / "run", epochs=2,
                               train_limit=800, val_size=200, **settings)


def test_a_run_begun_on_a_t4_and_resumed_on_a_cpu_is_refused_naming_both(tmp_path, smoke_dataset,
                                                                         monkeypatch):
    """precision "auto" on a T4 resolves to mixed_float16; on this CPU it resolves to something else.
    The optimizers differ (loss scaling), so the resume is refused before training, in one line naming
    both policies, the card, and how to go on; with the policy set explicitly it goes on."""
    from mnist_cnn.training import devices

    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "fma"}))  # float32 here
    monkeypatch.setattr(session, "list_gpus", lambda: [Gpu("Tesla T4", (7, 5))])
    config = _smoke(tmp_path, ema_momentum=0.99)
    with pytest.raises(_CutOffError):
        loop.train(config, smoke_dataset, report=_cut_off_after_epoch_1)
    state = json.loads((config.run_dir / "state.json").read_text())
    assert state["fingerprint"]["precision"] == "mixed_float16"
    assert state["placement"]["description"] == "GPU Tesla T4 (compute capability 7.5)"

    monkeypatch.setattr(session, "list_gpus", lambda: [])  # the GPU quota is spent: a CPU runtime
    with pytest.raises(ResumeMismatchError) as refused:
        loop.train(config, smoke_dataset)
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(r"trained in mixed_float16 on GPU Tesla T4 .*resolves to float32.*"
                     r"--set precision=mixed_float16.*--fresh", message), message
    result = loop.train(_smoke(tmp_path, ema_momentum=0.99, precision="mixed_float16"), smoke_dataset)
    assert result.resumed_from_epoch == 1 and result.epochs_run == 2 and result.precision == "mixed_float16"


def _resumed_state(config, strategy, state):
    """Every variable of the model and its optimizer after loading `state` under `strategy`."""
    from mnist_cnn.training import run_state
    from mnist_cnn.training.fused_norm import build_training_model
    from mnist_cnn.training.recipe import compile_model

    with strategy.scope():
        model = build_training_model(config)
        compile_model(model, config, steps_per_epoch=25)
        run_state.load_resume_point(model, config.run_dir, state)
    # in creation order: layer names differ between two builds in one process
    return model, [(v.path, np.array(v.numpy())) for v in [*model.weights, *model.optimizer.variables]]


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_resume_on_another_device_continues_exactly(tmp_path, smoke_dataset, policy):
    """Saved under the default strategy, loaded under an explicit device: the weights, the weight
    average, the optimizer's moments, its step (the schedule's position) and the loss scale are what
    was saved, not zeros and not a restarted count."""
    import keras
    import tensorflow as tf

    config = _smoke(tmp_path, ema_momentum=0.99, precision=policy)
    with pytest.raises(_CutOffError):
        loop.train(config, smoke_dataset, report=_cut_off_after_epoch_1)
    state = json.loads((config.run_dir / "state.json").read_text())
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        _, saved = _resumed_state(config, tf.distribute.get_strategy(), state)
        there, moved = _resumed_state(config, tf.distribute.OneDeviceStrategy("/cpu:0"), state)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert len(saved) == len(moved)
    for (name, value), (_, value_there) in zip(saved, moved, strict=True):
        np.testing.assert_array_equal(value_there, value, err_msg=name)
    steps = len(smoke_dataset.train_x) // 32  # one epoch of smoke's whole batches of 32
    optimizer = getattr(there.optimizer, "inner_optimizer", there.optimizer)
    assert int(optimizer.iterations.numpy()) == steps
    pairs = weight_average_pairs(there.optimizer)
    assert any(not np.allclose(raw.numpy(), average.numpy()) for raw, average in pairs)
    assert all(np.abs(average.numpy()).sum() > 0 for _, average in pairs)  # not loaded as zeros
    if policy == "mixed_float16":
        assert type(there.optimizer).__name__ == "LossScaleOptimizer"
