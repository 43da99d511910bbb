"""The CNN and its training: shapes, augmentation, one real epoch, saving, resume, reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import load_dataset, one_hot, to_model_input
from mnist_cnn.keras_compat import weight_average_pairs
from mnist_cnn.model import classifier_of
from mnist_cnn.serving.model_io import load_model, save_history, save_model
from mnist_cnn.training.callbacks import SMOOTHED_LOSS, history_row
from mnist_cnn.training.fused_norm import build_training_model
from mnist_cnn.training.loop import train
from mnist_cnn.training.run_state import ResumeMismatchError
from mnist_cnn.training.schedules import OneCycle
from tests.conftest import ROOT


def test_one_cycle_rises_then_falls():
    schedule = OneCycle(peak=1e-2, total_steps=100, warmup=0.2)
    rates = [float(schedule(step)) for step in (0, 10, 20, 60, 99)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-2, rel=1e-3)
    assert rates[2] > rates[3] > rates[4]
    assert rates[4] < 1e-3


@pytest.mark.slow
def test_one_epoch_end_to_end_learns_saves_and_reloads(smoke_config, smoke_dataset):
    result = train(smoke_config, smoke_dataset)
    assert result.epochs_run == 1 and result.best_epoch == 1
    columns = {"epoch", "cross_entropy", "accuracy", "val_cross_entropy", "val_accuracy", "learning_rate",
               "seconds"}
    assert set(result.history) == columns  # no smoothing in smoke: no objective column beside the plain one
    assert result.model.name == "mnist_cnn_fast"  # the classifier, not the training wrapper
    # ten classes: chance is 10 %; one epoch on 2,000 images must do clearly better
    assert result.history["val_accuracy"].iloc[-1] > 0.3

    paths = save_model(result.model, smoke_config)
    save_history(result.history, smoke_config.history_path)
    assert pd.read_csv(smoke_config.history_path).shape[0] == 1
    x = to_model_input(smoke_dataset.test_x[:64])
    expected = result.model.predict(x, verbose=0)
    for path in paths.values():
        assert path.suffix in (".keras", ".h5") and path.stat().st_size > 0
        np.testing.assert_allclose(load_model(path).predict(x, verbose=0), expected, atol=1e-6)
    assert not list(smoke_config.models_dir.glob(".*partial*"))


def test_history_names_the_label_smoothed_objective_and_keeps_plain_cross_entropy():
    logs = {"loss": 0.6, "cross_entropy": 0.1, "accuracy": 0.98, "val_loss": 0.55, "val_cross_entropy": 0.05,
            "val_accuracy": 0.99, "learning_rate": 1e-3, "seconds": 3.0}
    smoothed = history_row(2, logs, label_smoothing=0.1)
    assert smoothed[SMOOTHED_LOSS] == 0.6 and smoothed["val_cross_entropy"] == 0.05
    assert "loss" not in smoothed and "val_loss" not in smoothed  # no bare "loss" that means two things
    assert SMOOTHED_LOSS not in history_row(2, logs, label_smoothing=0.0)




@pytest.mark.slow
def test_same_seed_same_result(tmp_path, smoke_dataset):
    def run(name):
        # the default profile's mechanisms: precision "auto" (bfloat16 where the CPU has it) and the
        # weight average, on the small network
        config = Config.from_profile("smoke", run_dir=tmp_path / name, data_dir=ROOT / "data",
                                     ema_momentum=0.99)
        result = train(config, smoke_dataset)
        return result.history["val_cross_entropy"].iloc[-1], result.model.get_weights()[0]

    (loss_a, weights_a), (loss_b, weights_b) = run("a"), run("b")
    assert loss_a == loss_b
    np.testing.assert_array_equal(weights_a, weights_b)


@pytest.mark.slow
def test_several_steps_per_execution_train_the_same_weights(tmp_path, smoke_dataset):
    def run(steps):
        config = Config.from_profile("smoke", run_dir=tmp_path / str(steps), data_dir=ROOT / "data",
                                     ema_momentum=0.99, steps_per_execution=steps)
        result = train(config, smoke_dataset)
        return result.history["val_cross_entropy"].tolist(), result.model.get_weights()

    # smoke trains 63 steps an epoch (2,000 images, batch 32): the last call runs the 7 left over
    (losses_one, weights_one), (losses_eight, weights_eight) = run(1), run(8)
    assert losses_one == losses_eight
    for one, eight in zip(weights_one, weights_eight, strict=True):
        np.testing.assert_array_equal(one, eight)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_finished_epoch(tmp_path):
    """Kill a real training process part-way, start it again, and check it goes on, not over."""
    run_dir = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        from mnist_cnn.config import Config
        from mnist_cnn.data.dataset import load_dataset
        from mnist_cnn.training.loop import train
        config = Config.from_profile("smoke", epochs=4, data_dir={str(ROOT / "data")!r},
                                     run_dir={str(run_dir)!r}, train_limit=1000, val_size=200)
        def report(line):
            print(line, flush=True)
            if sys.argv[1] == "slow" and line.startswith("epoch "):
                time.sleep(60)  # gives the test time to kill us after an epoch is saved
        result = train(config, load_dataset(config), report=report)
        print("DONE", result.resumed_from_epoch, result.epochs_run, flush=True)
    """)
    first = subprocess.Popen([sys.executable, "-c", script, "slow"], stdout=subprocess.PIPE, text=True)
    line = first.stdout.readline()
    assert line.startswith("training on CPU") and "XLA off" in line, line  # where, in what, and why
    assert first.stdout.readline().startswith("building the training step")  # why epoch 1 takes longer
    line = first.stdout.readline()  # the first epoch is done and saved before its line is reported
    assert line.startswith("epoch   1/4"), line
    first.kill()
    first.wait(timeout=30)
    state = json.loads((run_dir / "state.json").read_text())
    assert state["epochs_done"] == 1

    second = subprocess.run([sys.executable, "-c", script, "fast"], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    lines = second.stdout.splitlines()
    assert not any(line.startswith("epoch   1/4") for line in lines)
    assert any(line.startswith("epoch   2/4") for line in lines)
    assert lines[-1] == "DONE 1 4"  # resumed after epoch 1, and the history holds all four
    # the resume point stays, marked finished, until pipeline.save has written the artefacts
    assert json.loads((run_dir / "state.json").read_text())["finished"] is True
    leftovers = [p.name for p in run_dir.rglob("*") if "partial" in p.name]
    assert leftovers == []


def test_tensorflow_draws_each_epochs_batches_as_the_other_backends_do():
    """tf.data's input takes its epoch from the bookkeeper: epoch 2's batches are the PyDataset's."""
    from mnist_cnn.training.distribute import make_strategy
    from mnist_cnn.training.input_pipeline import ShuffledBatches, make_datasets

    config = Config.from_profile("smoke", data_dir=ROOT / "data", train_limit=300, val_size=60)
    dataset = load_dataset(config)
    train, _, steps = make_datasets(config, dataset, make_strategy("cpu"))
    train.start_at(2)
    drawn = [images.numpy() for images, _ in train]
    x, y = to_model_input(dataset.train_x), one_hot(dataset.train_y, config.num_classes)
    other = ShuffledBatches(x, y, config.batch_size, config.seed, first_epoch=2)
    assert len(drawn) == steps == len(other)
    for index, images in enumerate(drawn):
        np.testing.assert_array_equal(images, other[index][0])
    train.start_at(3)
    assert not np.array_equal(next(iter(train))[0].numpy(), drawn[0])


def test_a_resumed_input_draws_the_order_the_uninterrupted_one_draws_next():
    """tf.data's reshuffling restarted with each new dataset: a resumed run saw epoch 1's order again."""
    from mnist_cnn.training.input_pipeline import ShuffledBatches

    images, labels = np.arange(40, dtype="float32").reshape(40, 1), np.zeros((40, 1))
    running = ShuffledBatches(images, labels, 8, seed=3)
    first = running[0][0].ravel().tolist()
    running.on_epoch_end()
    running.on_epoch_end()
    resumed = ShuffledBatches(images, labels, 8, seed=3)
    resumed.start_at(2)
    def batches(data):
        return [data[i][0].ravel().tolist() for i in range(5)]

    assert batches(resumed) == batches(running)
    assert running[0][0].ravel().tolist() != first










# each profile's network, pinned: a change to the model builder that changes a profile shows here










class _InterruptError(Exception):
    pass


def _interrupted_run(config: Config, dataset) -> None:
    """Train until the first epoch is saved, then stop as a lost runtime would."""

    def report(line):
        if line.startswith("epoch "):
            raise _InterruptError(line)

    with pytest.raises(_InterruptError):
        train(config, dataset, report=report)
    assert json.loads((config.run_dir / "state.json").read_text())["epochs_done"] == 1


@pytest.mark.slow
def test_resume_refuses_another_profile_and_names_the_setting(tmp_path, smoke_dataset, capsys):
    run_dir = tmp_path / "run"
    quick = Config.from_profile("quick", data_dir=ROOT / "data", run_dir=run_dir, train_limit=1000,
                                val_size=500)
    _interrupted_run(quick, smoke_dataset)
    smoke = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=run_dir)
    with pytest.raises(ResumeMismatchError, match=r"run.*profile='quick'.*profile='smoke'.*--fresh"):
        train(smoke, smoke_dataset)
    # the command: one line naming the run directory and the setting, exit 2, nothing trained
    from mnist_cnn.cli import main

    status = main(["--tf-logs", "train", "--profile", "smoke", "--run-dir", str(run_dir),
                   "--models-dir", str(tmp_path / "models"), "--figures-dir", str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert str(run_dir) in err and "profile='quick'" in err
    assert not (tmp_path / "models").exists()
    assert json.loads((run_dir / "state.json").read_text())["epochs_done"] == 1  # the old run is kept


@pytest.mark.slow
def test_resume_refuses_a_changed_epoch_count_unless_fresh(tmp_path, smoke_dataset):
    run_dir = tmp_path / "run"
    config = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=run_dir, epochs=3)
    _interrupted_run(config, smoke_dataset)
    shorter = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=run_dir, epochs=2)
    with pytest.raises(ResumeMismatchError, match=r"epochs=3.*epochs=2"):
        train(shorter, smoke_dataset)
    result = train(shorter, smoke_dataset, fresh=True)
    assert result.resumed_from_epoch == 0 and result.epochs_run == 2




def test_precision_follows_the_hardware(monkeypatch):
    from mnist_cnn.training import devices

    monkeypatch.setattr(devices, "tpu_present", lambda: False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert devices.choose_precision("auto", "cpu")[0] == "mixed_bfloat16"
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert devices.choose_precision("auto", "cpu")[0] == "float32"
    assert devices.choose_precision("float32", "cpu") == ("float32", "set in the configuration")
    assert Config.from_profile("original").precision == "float32"  # the peer stays as written


def test_an_isa_cap_below_bfloat16_means_float32_and_is_recorded(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 on an AVX512-BF16 machine: oneDNN would emulate bfloat16 slowly, so
    "auto" takes float32 there as on an AVX2-only CPU, and the CPU's description says the cap."""
    from mnist_cnn.training import devices

    monkeypatch.setattr(devices, "tpu_present", lambda: False)
    monkeypatch.setattr(devices, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    policy, reason = devices.choose_precision("auto", "cpu")
    assert policy == "float32" and "capped at AVX2" in reason
    assert devices.cpu_description().endswith("; oneDNN capped at AVX2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")
    assert devices.choose_precision("auto", "cpu")[0] == "mixed_bfloat16"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert devices.isa_cap() is None and "capped" not in devices.cpu_description()


@pytest.mark.slow
def test_mixed_precision_trains_and_saves_a_float32_model(smoke_config, smoke_dataset):
    config = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=smoke_config.run_dir,
                                 precision="mixed_bfloat16")
    result = train(config, smoke_dataset)
    assert result.precision == "mixed_bfloat16" and result.history["val_accuracy"].iloc[-1] > 0.3
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    assert {layer.dtype_policy.compute_dtype for layer in result.model.layers} == {"float32"}
    out = result.model.predict(to_model_input(smoke_dataset.test_x[:8]), verbose=0)
    assert out.dtype == np.float32


@pytest.mark.slow
def test_the_weight_average_is_what_is_validated_checkpointed_and_kept_for_resume(tmp_path, smoke_dataset):
    """With ema_momentum set, validation, the best checkpoint and the resume point all hold the average."""
    from mnist_cnn.data.dataset import one_hot
    from mnist_cnn.training import run_state
    from mnist_cnn.training.recipe import compile_model

    config = Config.from_profile("smoke", data_dir=ROOT / "data", run_dir=tmp_path / "run", epochs=3,
                                 ema_momentum=0.9, precision="float32")

    def cut_off_after_epoch_2(line):
        if line.startswith("epoch   2/3"):
            raise _InterruptError(line)

    with pytest.raises(_InterruptError):
        train(config, smoke_dataset, report=cut_off_after_epoch_2)
    state = json.loads((config.run_dir / "state.json").read_text())
    model = build_training_model(config)  # the layers the resume point was saved from
    compile_model(model, config, steps_per_epoch=10)
    run_state.load_resume_point(model, config.run_dir, state)
    classifier = classifier_of(model)
    x, y = to_model_input(smoke_dataset.val_x), one_hot(smoke_dataset.val_y, config.num_classes)

    def val_cross_entropy(net, weights=None):
        for variable, value in zip(model.trainable_variables, weights or [], strict=False):
            variable.assign(value)
        probabilities = net.predict(x, verbose=0)
        return float(keras.ops.mean(keras.losses.categorical_crossentropy(y, probabilities)))

    raw = [v.numpy() for v in model.trainable_variables]
    average = [average.numpy() for _, average in weight_average_pairs(model.optimizer)]
    assert any(not np.allclose(r, a) for r, a in zip(raw, average, strict=True))
    recorded = [row["val_cross_entropy"] for row in state["history"]]
    # the resume point keeps both, each in its place; epoch 2 was validated on the average
    assert val_cross_entropy(classifier, average) == pytest.approx(recorded[1], rel=1e-4)
    assert val_cross_entropy(classifier, raw) != pytest.approx(recorded[1], rel=1e-4)
    # the best checkpoint holds the validated average of the best epoch so far, the cut-off one included
    best_so_far = int(np.argmax([row["val_accuracy"] for row in state["history"]]))
    model.load_weights(config.run_dir / run_state.BEST_CHECKPOINT)
    assert val_cross_entropy(classifier) == pytest.approx(recorded[best_so_far], rel=1e-4)
    # starting again runs epoch 3 only and keeps the best validated weights of all three
    result = train(config, smoke_dataset)
    assert result.resumed_from_epoch == 2 and result.epochs_run == 3
    best = result.history["val_cross_entropy"][result.best_epoch - 1]
    assert val_cross_entropy(result.model) == pytest.approx(best, rel=1e-4)


def test_a_stale_partial_checkpoint_never_replaces_the_good_one(tmp_path):
    """A 0-byte `.partial-best.weights.h5` (a full disk, a kill) once became best.weights.h5 in an epoch
    that saved nothing, and every later run failed to open it."""
    from mnist_cnn.training.callbacks import AtomicModelCheckpoint

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = tmp_path / "best.weights.h5"
    model.save_weights(best)
    good = best.read_bytes()
    (tmp_path / ".partial-best.weights.h5").write_bytes(b"")
    checkpoint = AtomicModelCheckpoint(best, monitor="val_accuracy", mode="max", save_best_only=True,
                                       save_weights_only=True, initial_value_threshold=0.9)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0, {"val_accuracy": 0.5})  # not better: nothing saved this epoch
    assert best.read_bytes() == good
    assert not (tmp_path / ".partial-best.weights.h5").exists()
    checkpoint.on_epoch_end(1, {"val_accuracy": 0.95})  # better: written in full, then renamed
    assert best.stat().st_size > 0 and not (tmp_path / ".partial-best.weights.h5").exists()


def test_a_damaged_resume_point_says_so_and_names_its_file(tmp_path):
    from mnist_cnn.training import run_state

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    (tmp_path / run_state.BACKUP_DIR).mkdir()
    damaged = tmp_path / run_state.BACKUP_DIR / "epoch-3.weights.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 10)  # cut short
    with pytest.raises(ResumeMismatchError) as caught:
        state = {"epochs_done": 3, "weights": damaged.name, "history": []}
        run_state.load_resume_point(model, tmp_path, state)
    message = str(caught.value)
    assert message.startswith(f"{damaged}: the resume point's weights are damaged or unreadable")
    assert "--fresh" in message and "do not fit this model" not in message
