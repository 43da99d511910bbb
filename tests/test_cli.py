"""The `mnist-cnn` command: help text, a one-epoch train, evaluate, predict, export, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mnist_cnn.cli import build_parser, main
from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.evaluation.metrics import predict_probabilities
from mnist_cnn.io.locks import LOCK_NAME
from mnist_cnn.serving.model_io import load_model
from tests.conftest import ROOT

MODEL = "MODEL"  # stands for the committed model in argument lists: no test here waits for training
_MODEL_PATH = ROOT / "models" / "mnist_cnn.keras"
TEST_CSV = ROOT / "data" / "mnist_test.csv.gz"


def run(argv, capsys) -> tuple[int, str, str]:
    # --tf-logs keeps the test process's own stderr descriptor as it is
    argv = [_MODEL_PATH if arg == MODEL else arg for arg in argv]
    status = main(["--tf-logs", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "export"])
def test_every_option_states_its_default(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest not in ("help", "json"):
            assert "default" in (action.help or ""), f"{command} {action.option_strings} hides its default"


@pytest.fixture(scope="module")
def tflite(tmp_path_factory):
    """The committed model exported to .tflite (checked against Keras by the export itself)."""
    from mnist_cnn.serving.export import export_model

    path = tmp_path_factory.mktemp("tflite") / "model.tflite"
    export_model(load_model(_MODEL_PATH), path, "tflite")
    return path


def digit_files(folder, count: int) -> list:
    """The first `count` test digits as PNGs, dark on white and four times larger."""
    images, _ = load_csv(TEST_CSV)
    paths = [folder / f"digit{i}.png" for i in range(count)]
    for path, image in zip(paths, images, strict=False):
        Image.fromarray(255 - image).resize((112, 112)).save(path)
    return paths


@pytest.fixture
def small_csv(tmp_path):
    """200 labelled test images as a plain CSV in the Kaggle 'MNIST in CSV' layout."""
    images, labels = load_csv(TEST_CSV)
    header = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
    pairs = zip(images[:200], labels[:200], strict=True)
    rows = [f"{label}," + ",".join(map(str, image.ravel())) for image, label in pairs]
    path = tmp_path / "small.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_evaluate_prints_the_table_and_json_agrees(small_csv, capsys):
    status, out, _ = run(["evaluate", MODEL, small_csv], capsys)
    assert status == 0 and out.startswith("test accuracy ") and "macro avg" in out
    status, out, _ = run(["evaluate", MODEL, small_csv, "--json"], capsys)
    metrics = json.loads(out)
    assert status == 0 and metrics["test_samples"] == 200
    assert f"accuracy {metrics['test_accuracy']:.2%}" in run(["evaluate", MODEL, small_csv], capsys)[1]


def test_evaluate_with_corruptions_scores_each_and_their_mean(small_csv, capsys):
    status, out, _ = run(["evaluate", MODEL, small_csv, "--corruptions", "--seed", "5", "--json"], capsys)
    metrics = json.loads(out)
    assert status == 0 and metrics["corruption_seed"] == 5 and len(metrics["corruptions"]) == 15
    assert metrics["corruption_mean"] == pytest.approx(np.mean(list(metrics["corruptions"].values())))
    assert 0.5 < metrics["corruptions"]["rotate"] <= 1 and metrics["test_samples"] == 200
    status, out, _ = run(["evaluate", MODEL, small_csv, "--corruptions", "--seed", "5"], capsys)
    assert f"mean {metrics['corruption_mean']:.2%}" in out
    assert f"  rotate         {metrics['corruptions']['rotate']:.2%}" in out


def test_predict_explain_writes_an_occlusion_map_per_image(tmp_path, capsys):
    paths = digit_files(tmp_path, 2)
    status, out, _ = run(["predict", MODEL, *paths, "--explain", tmp_path / "maps"], capsys)
    assert status == 0 and f"wrote {tmp_path / 'maps' / 'digit1.png'}" in out
    for name in ("digit0.png", "digit1.png"):
        assert Image.open(tmp_path / "maps" / name).size[0] > 100


def test_predict_images_prints_digit_confidence_and_top_three(tmp_path, capsys):
    images, labels = load_csv(TEST_CSV)
    paths = []
    for i in range(3):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(255 - images[i]).resize((140, 140)).save(path)  # dark on white, larger
        paths.append(path)
    status, out, _ = run(["predict", MODEL, *paths, "--json"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and [r["label"] for r in rows] == [str(y) for y in labels[:3]]
    assert all(len(r["top"]) == 3 and r["top"][0][0] == r["label"] for r in rows)
    status, out, _ = run(["predict", MODEL, paths[0]], capsys)
    assert f"{paths[0]}: {labels[0]} (" in out and "top 3:" in out


def test_predict_csv_writes_a_kaggle_submission(tmp_path, small_csv, capsys):
    out_file = tmp_path / "submission.csv"
    status, out, _ = run(["predict", MODEL, small_csv, "--submission", out_file], capsys)
    lines = out_file.read_text().splitlines()
    assert status == 0 and "200 predictions" in out
    assert lines[0] == "ImageId,Label" and lines[1].startswith("1,") and lines[-1].startswith("200,")
    images, labels = load_csv(small_csv)
    predicted = np.array([int(line.split(",")[1]) for line in lines[1:]])
    expected = predict_probabilities(load_model(_MODEL_PATH), images).argmax(axis=1)
    np.testing.assert_array_equal(predicted, expected)
    assert (predicted == labels).mean() > 0.8  # and the model is a real one


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", MODEL, "missing.csv"], "missing.csv: file not found"),
        (["evaluate", ROOT / "README.md", TEST_CSV], "README.md: not a model file"),
        (["predict", MODEL, "nothing.png"], "nothing.png: file not found"),
        (["predict", MODEL, "a.csv", "b.png"], "either one CSV or image files"),
        (["predict", MODEL, "x.png", "--submission", "s.csv"], "--submission needs a CSV"),
        (["predict", MODEL, TEST_CSV, "--class-names", "a,b"], "lists 2 classes but"),
        (["predict", MODEL, TEST_CSV, "--explain", "maps"], "--explain takes image files and a"),
        (["predict", MODEL, "x.png", "--submission", "s.csv", "--explain", "maps"], "--explain takes image"),
        (["predict", "m.tflite", "x.png", "--explain", "maps"], "--explain takes image files and a"),
        (["predict", MODEL, "a/x.png", "b/x.png", "--explain", "maps"], "two images share a name"),
        (["evaluate", MODEL, TEST_CSV, "--seed", "3"], "--seed is the corruptions' seed"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(argv, capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""


def test_a_csv_failing_validation_names_file_line_and_reason(tmp_path, small_csv, capsys):
    text = small_csv.read_text().splitlines()
    text[5] = text[5].replace(",0,", ",300,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text) + "\n")
    status, _, err = run(["evaluate", MODEL, bad], capsys)
    assert status == 2 and "bad.csv: line 6" in err and "300" in err and "Traceback" not in err


def test_unreadable_image_from_the_installed_command_is_one_clean_line(tmp_path):
    """The real console script, TensorFlow start-up and all: stderr holds our line and nothing else."""
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    command = shutil.which("mnist-cnn", path=str(ROOT / ".venv" / "bin")) or shutil.which("mnist-cnn")
    argv = [command] if command else [sys.executable, "-m", "mnist_cnn.cli"]
    done = subprocess.run([*argv, "predict", str(_MODEL_PATH), str(broken)], capture_output=True, text=True)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()  # exactly one line
    assert line == f"mnist-cnn predict: error: {broken}: cannot be read as an image (Truncated File Read)"


@pytest.mark.slow
def test_a_second_train_on_a_held_run_directory_is_refused_at_once_and_touches_nothing(tmp_path):
    from tests.io.test_locks import hold_in_another_process

    run_dir, models = tmp_path / "run", tmp_path / "models"
    holder = hold_in_another_process(run_dir)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mnist_cnn.cli", "train", "--profile", "smoke", "--data-dir",
             str(ROOT / "data"), "--models-dir", str(models), "--figures-dir", str(tmp_path / "figures"),
             "--run-dir", str(run_dir), "--fresh"], capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"{run_dir}: in use by another mnist-cnn run (PID {holder.pid})" in line
    assert [p.name for p in run_dir.iterdir()] == [LOCK_NAME]  # --fresh wiped nothing
    assert not (tmp_path / "figures").exists()


@pytest.mark.slow
def test_train_one_epoch_then_evaluate_and_export_the_result(tmp_path, capsys):
    status, out, _ = run(
        ["train", "--profile", "smoke", "--data-dir", ROOT / "data", "--models-dir", tmp_path / "models",
         "--figures-dir", tmp_path / "figures", "--run-dir", tmp_path / "run", "--set", "dense_units=24"],
        capsys,
    )
    assert status == 0 and "epoch   1/1" in out
    models = tmp_path / "models"
    written = {p.name for p in models.iterdir()}
    assert written == {"mnist_cnn.keras", "mnist_cnn.h5", "history.csv", "metrics.json", LOCK_NAME}
    assert not (tmp_path / "run" / "state.json").exists()  # saved: the resume point is cleared
    assert len(list((tmp_path / "figures").glob("*.png"))) == 7
    assert "calibrated on the validation split: temperature" in out
    recorded = json.loads((models / "metrics.json").read_text())
    assert recorded["profile"] == "smoke" and recorded["epochs_run"] == 1
    assert recorded["config"]["dense_units"] == 24  # --set reached the model
    # the saved model scores on the test CSV what training recorded for it (the smoke profile
    # evaluates the first 1,000 test images)
    head = tmp_path / "head.csv"
    images, labels = load_csv(TEST_CSV)
    pairs = zip(images[:1000], labels[:1000], strict=True)
    rows = [f"{y}," + ",".join(map(str, x.ravel())) for x, y in pairs]
    head.write_text("\n".join(rows) + "\n")
    status, out, _ = run(["evaluate", models / "mnist_cnn.h5", head, "--json"], capsys)
    assert status == 0 and json.loads(out)["test_accuracy"] == pytest.approx(recorded["test_accuracy"])
    status, out, _ = run(["export", models / "mnist_cnn.keras"], capsys)
    assert status == 0 and (models / "mnist_cnn.tflite").is_file() and "predicts as the Keras model" in out
    # any output name, whatever suffix the converter itself insists on
    status, out, _ = run(["export", models / "mnist_cnn.h5", "--output", tmp_path / "phone_model"], capsys)
    assert status == 0 and (tmp_path / "phone_model").is_file()


@pytest.mark.slow
def test_predict_with_a_tflite_export_answers_as_keras_without_importing_tf(tmp_path, tflite):
    paths = digit_files(tmp_path, 4)
    script = (
        "import json, sys\n"
        "from mnist_cnn.cli import main\n"
        "status = main(['predict', '--json', *sys.argv[1:]])\n"
        "print(json.dumps({'status': status, 'tensorflow': 'tensorflow' in sys.modules,"
        " 'keras': 'keras' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tflite), *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    *rows, verdict = [json.loads(line) for line in done.stdout.splitlines()]
    assert verdict == {"status": 0, "tensorflow": False, "keras": False}, done.stderr[-2000:]
    from mnist_cnn.data.images import load_images

    expected = predict_probabilities(load_model(_MODEL_PATH), load_images(paths))
    assert [row["label"] for row in rows] == [str(i) for i in expected.argmax(axis=1)]
    for row, probabilities in zip(rows, expected, strict=True):
        assert row["confidence"] == pytest.approx(float(probabilities.max()), abs=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "epochs=many"], "epochs='many': expected a whole number"),
        (["--set", "colour=red"], "unknown settings: colour"),
        (["--config", "missing.json"], "missing.json: cannot be read"),
    ],
)
def test_bad_train_settings_give_one_line_and_status_2(extra, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = run(["train", "--profile", "smoke", *extra], capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "models").exists()


@pytest.mark.slow  # exports a TFLite model first
def test_a_closed_pipe_ends_predict_quietly(tmp_path, tflite):
    """`mnist-cnn predict ... | head -1`: the reader goes away, and that is not bad input."""
    paths = digit_files(tmp_path, 3)
    reader_gone = subprocess.Popen(
        [sys.executable, "-m", "mnist_cnn.cli", "predict", str(tflite), *map(str, paths)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    reader_gone.stdout.close()  # before the command writes a line
    _, err = reader_gone.communicate(timeout=120)
    assert reader_gone.returncode == 141 and err.decode().strip() == ""
