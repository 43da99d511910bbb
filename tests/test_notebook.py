"""The notebook itself, executed end to end with the smoke profile (papermill), locally and as on Colab."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess

import pytest

from mnist_cnn import backends
from mnist_cnn.evaluation.plots import OWN_IMAGES, REPORT_FIGURES
from mnist_cnn.io.native_logs import KNOWN_NOISE
from tests.conftest import ROOT

papermill = pytest.importorskip("papermill")
NOTEBOOK = ROOT / "notebooks" / "mnist_cnn.ipynb"
# the report's figures, and those only the notebook draws: robustness and occlusion maps
FIGURES = {*REPORT_FIGURES, OWN_IMAGES, "corruption_examples", "corruption_accuracy", "occlusion_mistakes",
           "own_images_occlusion"}
# what must never show in a notebook's outputs: TensorFlow's native log lines (any severity, by their
# glog prefix, or the dated prefix of older TensorFlow), CUDA probes, and Keras' notices that HDF5
# is legacy and that an uncompiled model was loaded
NOISE = re.compile("|".join([r"^[IWEF]\d{4} \d\d:\d\d:\d\d", r"^[IWEF]0000 ",
                             r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ", "cuInit", "CUDA error",
                             "HDF5 file via `model.save", "No training configuration found in the save file",
                             *KNOWN_NOISE]), re.MULTILINE)


def noise_in(notebook: dict) -> list[str]:
    """Output text of the notebook that is known noise, or an error."""
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"error: {output.get('ename')}")
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            found += [match.group(0) for match in NOISE.finditer(text)]
    return found


def execute(tmp_path, name: str, source=NOTEBOOK, **parameters) -> dict:
    out = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(source), str(out), parameters={"profile": "smoke", **parameters}, cwd=str(tmp_path),
        kernel_name="python3", execution_timeout=600, progress_bar=False,
    )
    return json.loads(out.read_text())


def outputs_of(notebook: dict, kind: str) -> list:
    return [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("output_type") == kind]


def assert_training_reads_well(nb: dict) -> None:
    """The executed training cell: a line on where it trains, one line per epoch, the bar's last state
    (no carriage-return runs), the final curves in the live display's place, and no widget state."""
    cell = next(c for c in nb["cells"] if "model.fit(" in "".join(c["source"]))
    text = "".join("".join(o.get("text", "")) for o in cell["outputs"] if o["output_type"] == "stream")
    epochs = [line for line in text.splitlines() if line.startswith("epoch ")]
    assert [line[:12] for line in epochs] == ["epoch   1/2 ", "epoch   2/2 "]
    # XLA: JAX compiles every step; TensorFlow cannot compile smoke's warp, and PyTorch is not measured
    xla = "on" if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax" else "off"
    assert re.search(rf"^training on CPU .* in (float32|mixed_bfloat16): .*; XLA {xla}: ", text, re.M)
    displays = [o for o in cell["outputs"] if o["output_type"] in ("display_data", "update_display_data")]
    bars = ["".join(o["data"].get("text/plain", "")) for o in displays if "image/png" not in o["data"]]
    assert len(bars) == 1 and bars[0].startswith("trained 2 epochs in"), bars  # the bar, finished
    assert sum("image/png" in o["data"] for o in displays) == 1  # the curves, drawn once in the end
    every_text = json.dumps(cell["outputs"])
    assert "\\r" not in every_text and "[#" not in text
    assert "widgets" not in nb["metadata"] and "application/vnd.jupyter.widget" not in json.dumps(nb)


def test_parameters_cell_is_tagged_and_first_code_cell():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    assert "colab.research.google.com/assets/colab-badge.svg" in "".join(cells[0]["source"])


@pytest.mark.slow
def test_notebook_runs_end_to_end_with_the_smoke_profile(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns(".cache"))
    nb = execute(tmp_path, "local", data_dir=str(tmp_path / "data"), models_dir=str(tmp_path / "models"),
                 figures_dir=str(tmp_path / "figures"), run_dir=str(tmp_path / "run"), epochs=2)
    assert outputs_of(nb, "error") == []
    assert_training_reads_well(nb)
    stderr = [o for o in outputs_of(nb, "stream") if o["name"] == "stderr"]
    assert not any("Traceback" in "".join(o["text"]) for o in stderr)
    images = [o for o in outputs_of(nb, "display_data") if "image/png" in o.get("data", {})]
    assert len(images) == len(FIGURES)
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} == FIGURES
    metrics = json.loads((tmp_path / "models" / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["test_samples"] == 1000
    # smoke, 2 epochs, measured with `mnist-cnn train`: seed 42 0.862 (TensorFlow), 0.838 (JAX), 0.859
    # (PyTorch); seeds 43 and 44 on TensorFlow 0.848 and 0.811. Chance is 0.1
    assert metrics["test_accuracy"] >= 0.78
    assert set(metrics["data_checksums"]) == {"mnist_train.csv.gz", "mnist_test.csv.gz"}
    for name in ("mnist_cnn.keras", "mnist_cnn.h5", "history.csv"):
        assert (tmp_path / "models" / name).stat().st_size > 0
    printed = "".join("".join(o["text"]) for o in outputs_of(nb, "stream"))
    reloads = re.findall(r"plain keras.saving.load_model predicts as the trained model \(largest difference "
                         r"([0-9.e+-]+) on 1,000 test images\)", printed)
    assert len(reloads) == 2 and all(float(d) <= 1e-6 for d in reloads)
    assert "temperature " in printed and metrics["calibration"]["predictions_changed"] == 0
    assert noise_in(nb) == []
    samples = sorted(p.name for p in (ROOT / "data" / "samples").iterdir() if p.suffix in (".png", ".jpg"))
    assert all(f"{name}: " in printed for name in samples) and printed.count("top 3:") == len(samples)
    # the draw-a-digit page is not started: headless, or (in `make test-compat`) without Gradio
    gradio = importlib.util.find_spec("gradio") is not None
    assert ("skipped: this run is headless" if gradio else "skipped: the page needs Gradio") in printed
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")  # make test-backends runs it on each
    assert f"Keras on {backends.display_name(backend)} " in printed
    if backend != "tensorflow":
        assert f"skipped: the LiteRT export goes through TensorFlow, and Keras runs on {backend}" in printed
        return
    assert "mnist_cnn.tflite" in printed and "predicts as the Keras model does" in printed
    assert (tmp_path / "models" / "mnist_cnn.tflite").stat().st_size > 0


@pytest.mark.slow
def test_a_layer_edited_in_the_notebook_is_trained_and_saved(tmp_path):
    """A student adds a layer to the notebook's `build_network` and runs all: the saved model has it."""
    nb = json.loads(NOTEBOOK.read_text())
    anchor = "    return layers.Dropout(config.dropout)(x)"  # the end of fast_network
    (cell,) = [c for c in nb["cells"] if anchor in "".join(c["source"])]
    source = "".join(cell["source"]).replace(
        anchor, '    x = layers.Dense(24, activation="relu", name="student_edit")(x)\n' + anchor)
    cell["source"] = source.splitlines(keepends=True)
    edited = tmp_path / "edited.ipynb"
    edited.write_text(json.dumps(nb))
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns(".cache"))
    done = execute(tmp_path, "run", source=edited, data_dir=str(tmp_path / "data"),
                   models_dir=str(tmp_path / "models"), figures_dir=str(tmp_path / "figures"),
                   run_dir=str(tmp_path / "run"))
    assert outputs_of(done, "error") == []
    import keras

    for name in ("mnist_cnn.keras", "mnist_cnn.h5"):
        model = keras.saving.load_model(tmp_path / "models" / name, compile=False)
        assert model.get_layer("student_edit").units == 24, name
        assert model.get_layer("logits").input.shape[-1] == 24


@pytest.mark.slow
def test_colab_path_clones_installs_and_is_safe_to_run_twice(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone from")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("no commit to clone")
    colab = tmp_path / "content"
    colab.mkdir()
    parameters = {"force_colab": True, "repo_url": f"file://{ROOT}", "colab_dir": str(colab),
                  "models_dir": "models", "figures_dir": "figures", "run_dir": "runs/nb"}
    for attempt in ("first", "second"):
        nb = execute(tmp_path, attempt, **parameters)
        assert outputs_of(nb, "error") == []
        assert "| Colab" in json.dumps(nb)
    clone = colab / "mnist-cnn"
    assert (clone / "pyproject.toml").exists()
    assert (clone / "models" / "metrics.json").exists()  # relative paths resolve inside the clone


def test_papermills_traces_are_folded_into_the_parameters_cell():
    script = ROOT / "notebooks" / "strip_papermill.py"
    spec = importlib.util.spec_from_file_location("strip_papermill", script)
    strip_papermill = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(strip_papermill)
    notebook = {"metadata": {"papermill": {"parameters": {"profile": "quick"}}, "kernelspec": {}}, "cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"], "papermill": {"duration": 0.1}},
         "source": ['profile = "full"  # smoke | quick | full\n', "epochs = None\n", "seed = 42"]},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
         "source": ["# Parameters\n", 'profile = "quick"\n', "seed = 7\n"]},
        {"cell_type": "code", "metadata": {"papermill": {"status": "completed"}}, "source": ["print(1)"]}]}
    stripped = strip_papermill.strip(notebook)
    assert len(stripped["cells"]) == 2 and "papermill" not in json.dumps(stripped)
    folded = "".join(stripped["cells"][0]["source"])
    assert folded == 'profile = "quick"  # smoke | quick | full\nepochs = None\nseed = 7'
    with pytest.raises(ValueError, match="no line for the injected 'members'"):
        strip_papermill.fold_into_parameters("profile = 1", {"members": "2"})


def test_committed_notebook_shows_no_noise_and_no_errors():
    assert noise_in(json.loads(NOTEBOOK.read_text())) == []


def test_noise_check_catches_what_it_should():
    fake = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "stream", "name": "stderr",
         "text": ["E0000 00:00:1795561374.722331    3096 cuda_platform.cc:52] failed call to cuInit: x\n"]},
        {"output_type": "stream", "name": "stderr", "text": ["UserWarning: a real warning\n"]}]}]}
    assert len(noise_in(fake)) >= 1 and not any("real warning" in n for n in noise_in(fake))


@pytest.mark.slow
def test_own_images_are_skipped_for_other_class_names(tmp_path):
    shutil.copytree(ROOT / "data", tmp_path / "data", ignore=shutil.ignore_patterns(".cache"))
    names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
    nb = execute(tmp_path, "fashion", data_dir=str(tmp_path / "data"), models_dir=str(tmp_path / "models"),
                 figures_dir=str(tmp_path / "figures"), run_dir=str(tmp_path / "run"), class_names=names)
    printed = "".join("".join(o["text"]) for o in outputs_of(nb, "stream"))
    assert "skipped: the samples are digits" in printed and "top 3:" not in printed
    assert not (tmp_path / "figures" / "own_images.png").exists()


@pytest.mark.slow  # runs the setup cell in a fresh kernel
def test_colab_setup_stops_with_one_line_while_repo_url_is_the_placeholder_or_unreachable(tmp_path):
    colab = tmp_path / "content"
    colab.mkdir()
    cases = (("https://github.com/your-account/mnist-cnn.git", "still names the placeholder"),
             (f"file://{tmp_path}/nowhere", "cannot clone repo_url"))
    for repo_url, expected in cases:
        out = tmp_path / "colab.ipynb"
        with pytest.raises(papermill.PapermillExecutionError):
            papermill.execute_notebook(
                str(NOTEBOOK), str(out), cwd=str(tmp_path), kernel_name="python3", progress_bar=False,
                parameters={"force_colab": True, "repo_url": repo_url, "colab_dir": str(colab)},
            )
        errors = outputs_of(json.loads(out.read_text()), "error")
        assert len(errors) == 1 and errors[0]["ename"] == "SetupError"
        assert len(errors[0]["traceback"]) == 1 and expected in errors[0]["traceback"][0]
        assert "set repo_url in the parameters cell" in errors[0]["traceback"][0]
        assert not (colab / "mnist-cnn").exists()


def test_the_kernelspec_is_the_one_jupyterlab_writes():
    """JupyterLab rewrites a kernelspec that differs from the kernel's own: the notebook would open as
    changed, and closing it would ask to save."""
    from ipykernel.kernelspec import get_kernel_dict

    kernel = get_kernel_dict()
    spec = json.loads(NOTEBOOK.read_text())["metadata"]["kernelspec"]
    assert spec == {"display_name": kernel["display_name"], "language": kernel["language"], "name": "python3"}
