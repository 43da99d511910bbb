"""The notebook's setup after the clone: where the kernel works, what is installed, where outputs go."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_cnn import notebook_setup
from mnist_cnn.io import native_logs


@pytest.fixture(autouse=True)
def no_stderr_filter(monkeypatch):
    """The filter replaces this process' descriptor 2 for good: record the call instead."""
    calls = []
    monkeypatch.setattr(native_logs, "filter_native_stderr", lambda: calls.append(True) or True)
    return calls


def test_locally_from_notebooks_the_kernel_moves_to_the_repository_root(
        tmp_path, monkeypatch, no_stderr_filter):
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    place = notebook_setup.enter_project(None)
    assert Path.cwd() == tmp_path.resolve() == place.root
    assert place.summary == f"working in {tmp_path.name} | local" and no_stderr_filter == [True]
    assert place.outputs("models", "figures", None) == ("models", "figures", None)


def test_a_notebooks_folder_outside_a_repository_is_left_as_it_is(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert notebook_setup.enter_project(None).root == (tmp_path / "notebooks").resolve()


def test_on_colab_an_installed_package_is_not_installed_again_and_drive_takes_the_outputs(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clone = tmp_path / "content" / "mnist-cnn"
    clone.mkdir(parents=True)
    # the runtime already holds the package, whether or not this test's environment does
    asked = []
    monkeypatch.setattr(notebook_setup, "installed_version", lambda name: asked.append(name) or "1.0")
    monkeypatch.setattr(notebook_setup, "install_into_runtime", lambda repo: pytest.fail("installed twice"))
    mounted = []
    place = notebook_setup.enter_project(
        clone, use_drive=True, drive_dir=tmp_path / "drive", mount=mounted.append)
    assert asked == [notebook_setup.PROJECT] and place.installed is None
    assert Path.cwd() == clone.resolve() and mounted == [notebook_setup.DRIVE_MOUNT]
    assert place.outputs("models", "figures", None) == tuple(
        str(tmp_path / "drive" / name) for name in ("models", "figures", "run"))
    assert place.summary.endswith(f"working in mnist-cnn | Colab, outputs on Drive in {tmp_path / 'drive'}")


def test_on_colab_a_fresh_runtime_installs_the_clone_and_says_what_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clone = tmp_path / "mnist-cnn"
    clone.mkdir()

    class Report:
        def summary(self):
            return "installed mnist-cnn and upgraded pillow 11.3.0 -> 12.2.0"

    installs = []
    monkeypatch.setattr(notebook_setup, "installed_version", lambda name: None)
    monkeypatch.setattr(
        notebook_setup, "install_into_runtime", lambda repo: installs.append(repo) or Report())
    place = notebook_setup.enter_project(clone)
    assert installs == [clone] and place.drive_dir is None
    assert place.summary.splitlines() == ["installed mnist-cnn and upgraded pillow 11.3.0 -> 12.2.0",
                                          "working in mnist-cnn | Colab"]
