"""Saved models load and predict alike in every Keras 3 that Colab has shipped since 2025, and train,
resume and save in every Keras the dependency floor allows (`make test-keras-matrix`).

Each runtime of environments.RUNTIMES is built from the package registries (minutes, the first time;
kept under .runtimes/). The reference is what this environment's Keras (the newest) predicts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.dataset import to_model_input
from tests.conftest import ROOT
from tests.runtimes.environments import COLAB, HOME, RUNTIMES, build, environment, keras_overlay, python_for

pytestmark = pytest.mark.runtimes
LOAD_CHECK = Path(__file__).with_name("load_check.py")
COMMITTED = (ROOT / "models" / "mnist_cnn.keras", ROOT / "models" / "mnist_cnn.h5")
# the tests that train, resume and save, run under each Keras the floor allows
TRAINING_TESTS = (
    "tests/test_keras_compat.py",
    "tests/training/test_loop.py::test_one_epoch_end_to_end_learns_saves_and_reloads",
    "tests/training/test_loop.py::test_a_killed_run_resumes_from_its_last_finished_epoch",
    "tests/training/test_loop.py::test_the_weight_average_is_what_is_validated_checkpointed_and_kept_for_resume",
    "tests/training/test_fused_norm.py",
    "tests/training/test_ensemble.py::test_the_ensemble_averages_the_members_logits_and_saves_as_plain_keras",
)


def built(runtime):
    if python_for(runtime.python) is None:
        pytest.skip(f"no Python {runtime.python} on this machine: {runtime.name} not tried")
    return build(runtime)


def reference_for(model_files, folder: Path, model=None) -> Path:
    """What this environment's Keras predicts on the first 1,000 test images, as load_check reads it."""
    import keras

    images, _ = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    inputs = to_model_input(images[:1000])
    model = model or keras.saving.load_model(model_files[0], compile=False)
    path = folder / "reference.npz"
    np.savez(path, images=inputs, probabilities=model.predict(inputs, verbose=0))
    return path


def load_in(runtime, keras_version: str, reference: Path, files, *flags: str, extra=()) -> list[dict]:
    python = built(runtime)
    env = environment(keras_overlay(runtime, keras_version), *extra)
    done = subprocess.run([str(python), str(LOAD_CHECK), *flags, str(reference), *map(str, files)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    with open(HOME / "load-matrix.jsonl", "a") as record:  # the last runs' figures, for the notes
        record.writelines(json.dumps({"runtime": runtime.name, **result}) + "\n" for result in results)
    return results


MATRIX = [(runtime, version) for runtime in RUNTIMES for version in runtime.keras]


@pytest.fixture(scope="module")
def committed_reference(tmp_path_factory) -> Path:
    return reference_for(COMMITTED, tmp_path_factory.mktemp("committed"))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, trained):
    """A model this code base trains and saves now, with its reference predictions."""
    return trained, reference_for(None, tmp_path_factory.mktemp("fresh"), trained.model)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, trained):
    """A calibrated two-member ensemble of the trained network (the second member's weights nudged),
    saved as the pipeline saves it, with its reference predictions."""
    import keras

    from mnist_cnn.evaluation.calibration import with_temperature
    from mnist_cnn.model import build_network
    from mnist_cnn.serving.model_io import save_model
    from mnist_cnn.training.ensemble import average_members

    members = []
    for scale in (1.0, 0.9):
        member = build_network(trained.config)
        member.set_weights([w * scale for w in trained.model.get_weights()])
        members.append(member)
    model = with_temperature(average_members(members, name="mnist_cnn_fast"), 0.7)
    folder = tmp_path_factory.mktemp("ensemble")
    config = trained.config.with_settings([f"models_dir={folder}"])
    paths = save_model(model, config)
    files = (paths["keras"], paths["h5"])
    return files, reference_for(None, folder, keras.saving.load_model(files[0], compile=False))


@pytest.mark.parametrize(("runtime", "keras_version"), MATRIX, ids=[f"{r.name}-keras{v}" for r, v in MATRIX])
def test_saved_models_load_and_predict_alike(runtime, keras_version, committed_reference, fresh, ensemble):
    trained, fresh_reference = fresh
    results = load_in(runtime, keras_version, committed_reference, COMMITTED)
    results += load_in(runtime, keras_version, fresh_reference, (trained.keras_path, trained.h5_path))
    results += load_in(runtime, keras_version, ensemble[1], ensemble[0])
    assert len(results) == 6
    for result in results:
        assert result["keras"] == keras_version
        assert "error" not in result, result
        assert result["max_difference"] <= 1e-6, result


def test_exports_load_in_colabs_tensorflow(tmp_path, fresh):
    """The SavedModel and the .tflite file, for those whose Keras 2 cannot read a Keras 3 file."""
    from mnist_cnn.serving.export import export_model

    trained, reference = fresh
    sample = np.load(reference)["images"][:100]
    exports = [tmp_path / "mnist_cnn_savedmodel", tmp_path / "mnist_cnn.tflite"]
    for path, fmt in zip(exports, ("savedmodel", "tflite"), strict=True):
        export_model(trained.model, path, fmt, sample=sample)
    for result in load_in(COLAB, COLAB.keras[0], reference, exports):
        assert result["tensorflow"] == "2.20.0"
        assert "error" not in result, result
        assert result["max_difference"] <= 1e-5, result


def test_tf_keras_cannot_read_a_keras_3_h5_file_as_the_readme_says(fresh):
    """tf_keras (Keras 2, which Colab also ships) reads Keras 2's layer configurations; Keras 3 writes
    its own (an InputLayer with `batch_shape`, dtype policies as objects), so the README points Keras 2
    users to the exports. If this starts to pass, the README must say so."""
    trained, reference = fresh
    (result,) = load_in(COLAB, COLAB.keras[0], reference, [trained.h5_path], "--tf-keras")
    assert "InputLayer" in result.get("error", ""), result


@pytest.mark.parametrize("keras_version", COLAB.keras)
def test_training_resume_and_saving_work_in_each_keras_the_floor_allows(keras_version, tmp_path):
    python = built(COLAB)
    env = environment(keras_overlay(COLAB, keras_version), ROOT / "src", ROOT)
    done = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q", "-x",
         "--basetemp", str(tmp_path / "pytest"), *TRAINING_TESTS],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]
    version = subprocess.run([str(python), "-c", "import keras; print(keras.__version__)"],
                             capture_output=True, text=True, env=env).stdout.strip()
    assert version == keras_version


def test_the_floor_is_the_oldest_keras_trained_here():
    assert f"keras>={COLAB.keras[0]}," in (ROOT / "requirements.txt").read_text()
