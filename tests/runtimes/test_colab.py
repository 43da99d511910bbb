"""Colab's own runtime (`make test-colab`): the notebook's Colab path, run as a Colab user runs it.

The runtime is tests/runtimes/colab-2026-08-19.txt on Python 3.13, put back to those pins before the
run. The notebook runs in a kernel of that environment (this environment only drives it, as Colab's
server does): it clones this repository from a file:// address, installs the project as its setup
cell does, trains the smoke profile, reloads the saved models and starts the draw-a-digit page without
blocking. While the kernel still runs, the page is asked over HTTP on 127.0.0.1 what two test
images show. Afterwards `pip check` must find nothing Colab ships broken by the install.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT
from tests.runtimes.environments import COLAB, build, environment, python_for, restore_pins

pytestmark = pytest.mark.runtimes
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
papermill_parameterize = pytest.importorskip("papermill.parameterize")
NOTEBOOK = ROOT / "notebooks" / "mnist_cnn.ipynb"
PAGE_PROBE = "print('page at', page.local_url)"
SAMPLES = {"mnist_test_1_label_2.png": "2", "mnist_test_3_label_0.jpg": "0"}


@pytest.fixture(scope="module")
def colab_python():
    if python_for(COLAB.python) is None:
        pytest.skip(f"no Python {COLAB.python} on this machine: Colab's runtime not tried")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the notebook's Colab path clones the repository: needs git and a checkout")
    python = build(COLAB)
    restore_pins(COLAB)
    return python


def installed(python, name: str) -> str:
    script = f"from importlib.metadata import version; print(version({name!r}))"
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True)
    return done.stdout.strip()


def kernel_spec(folder, python) -> str:
    """A Jupyter kernel of the Colab environment, found through JUPYTER_PATH."""
    spec = folder / "kernels" / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab 2026.08", "language": "python",
        "env": {k: v for k, v in environment(None).items() if k in ("TF_CPP_MIN_LOG_LEVEL",
                                                                      "PYDEVD_DISABLE_FILE_VALIDATION")},
    }))
    return "colab"


def test_the_notebook_runs_on_colabs_runtime_and_breaks_nothing_there(colab_python, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file

    from tests.test_notebook import noise_in

    assert installed(colab_python, "keras") == "3.13.2" and installed(colab_python, "pillow") == "11.3.0"
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    kernel = kernel_spec(tmp_path / "jupyter", colab_python)
    content = tmp_path / "content"
    content.mkdir()
    # read as papermill's execute_notebook reads it, with its metadata added: the committed notebook
    # carries none
    from papermill.iorw import load_notebook_node

    notebook = papermill_parameterize.parameterize_notebook(
        load_notebook_node(str(NOTEBOOK)),
        {"profile": "smoke", "force_colab": True, "repo_url": f"file://{ROOT}", "colab_dir": str(content),
         "launch_demo": True},
    )
    notebook.cells.append(nbformat.v4.new_code_cell(PAGE_PROBE))
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name=kernel,
                                     resources={"metadata": {"path": str(tmp_path)}})
    answers = {}
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                          for o in c.get("outputs", []) if o.get("output_type") == "stream")
        url = re.search(r"page at (http://127\.0\.0\.1:\d+/?)", printed).group(1)
        page = Client(url, verbose=False)
        for name in SAMPLES:
            answer = page.submit(handle_file(str(ROOT / "data" / "samples" / name)), api_name="/predict")
            answers[name] = answer.result(timeout=120)["label"]
    assert answers == SAMPLES

    assert noise_in(notebook) == []
    assert "| Colab" in printed
    # the setup cell upgraded Pillow alone, to a version Colab's Gradio accepts, and said so
    upgrade = re.search(r"installed mnist-cnn and upgraded pillow 11\.3\.0 -> (\S+)", printed)
    assert upgrade is not None, printed[:2000]
    assert upgrade.group(1).startswith("12."), upgrade.group(1)
    assert installed(colab_python, "keras") == "3.13.2"
    assert installed(colab_python, "tensorflow") == "2.20.0"
    assert installed(colab_python, "gradio") == "6.24.0"
    reloads = re.findall(r"plain keras.saving.load_model predicts as the trained model \(largest difference "
                         r"([0-9.e+-]+) on 1,000 test images\)", printed)
    assert len(reloads) == 2 and all(float(d) <= 1e-6 for d in reloads)
    assert "keras 3.13.2" in printed  # the versions line: the notebook ran on Colab's Keras

    # the C fast path of the CSV reader was built for Python 3.13 by the setup cell's install
    fast = subprocess.run([str(colab_python), "-c", "import mnist_cnn.data._fastcsv"], capture_output=True,
                          text=True, cwd=tmp_path)
    assert fast.returncode == 0, fast.stderr[-2000:]

    check = subprocess.run([str(colab_python), "-m", "pip", "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
