"""The notebook's install into a live runtime: one pip call, only what is below a bound, nothing broken.

The real thing runs in Colab's pinned runtime (`make test-colab`); here pip is replaced by a recorder,
and the decisions around it are checked against this environment's installed packages.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement

from mnist_cnn import notebook_setup
from mnist_cnn.notebook_setup import (
    RuntimeSetupError,
    dependents_of,
    install_into_runtime,
    outside_bounds,
    project_requirements,
)
from tests.conftest import ROOT


def fake_repo(tmp_path, *dependencies: str):
    items = ", ".join(f'"{d}"' for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\ndependencies = [{items}]\n')
    return tmp_path


def recorder(returncode: int = 0, stderr: str = ""):
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    return run, calls


def test_the_projects_own_bounds_are_met_here():
    assert project_requirements(ROOT)  # read from pyproject.toml
    assert outside_bounds(project_requirements(ROOT)) == {}


def test_only_what_is_below_a_bound_or_missing_is_named():
    numpy = version("numpy")
    found = outside_bounds([Requirement("numpy>=1"), Requirement("numpy>=999"),
                            Requirement("surely-not-installed-here>=1")])
    assert found == {"numpy": numpy, "surely-not-installed-here": None}


def test_installed_packages_that_need_an_upgraded_one_are_held_at_their_versions():
    held = dependents_of(["pillow"])
    assert f"matplotlib=={version('matplotlib')}" in held  # matplotlib requires pillow
    assert not any(item.lower().startswith("mnist-cnn==") for item in held)
    assert dependents_of(["surely-not-installed-here"]) == []


def test_one_pip_call_installs_the_project_and_holds_the_dependents(tmp_path):
    repo = fake_repo(tmp_path, "numpy>=1", "pillow>=999")
    run, calls = recorder()
    report = install_into_runtime(repo, run=run)
    (command,) = calls
    assert command[:5] == [sys.executable, "-m", "pip", "install", "--quiet"]
    assert command[5:7] == ["-e", str(repo)]
    assert f"matplotlib=={version('matplotlib')}" in command[7:]
    assert not any(item.startswith("numpy") for item in command[7:])  # numpy is within its bound
    assert report.upgraded == {}  # the recorder installed nothing
    assert report.summary() == "installed mnist-cnn; every dependency was already within its bounds"


def test_an_upgrade_of_something_already_imported_asks_for_a_restart(tmp_path, monkeypatch):
    repo = fake_repo(tmp_path, "pytest>=999")
    run, _ = recorder()
    versions = iter([version("pytest"), "999.0"])  # before pip, after pip
    monkeypatch.setattr(notebook_setup, "installed_version", lambda name: next(versions))
    with pytest.raises(RuntimeSetupError) as raised:
        install_into_runtime(repo, run=run)
    message = str(raised.value)
    assert f"upgraded pytest {version('pytest')} -> 999.0" in message
    assert "already imported pytest: restart the session" in message
    assert raised.value._render_traceback_() == [f"RuntimeSetupError: {message}"]


def test_an_upgrade_of_nothing_imported_is_reported(tmp_path, monkeypatch):
    repo = fake_repo(tmp_path, "surely-not-installed-here>=1")
    run, _ = recorder()
    versions = iter([None, "1.0"])
    monkeypatch.setattr(notebook_setup, "installed_version", lambda name: next(versions))
    report = install_into_runtime(repo, run=run)
    assert report.summary() == "installed mnist-cnn and upgraded surely-not-installed-here none -> 1.0"


def test_a_pip_failure_is_one_line_with_pips_last_words(tmp_path):
    run, _ = recorder(1, "Collecting x\nERROR: No matching distribution found for pillow>=999\n")
    last_words = r"\(ERROR: No matching distribution found for pillow>=999\)$"
    with pytest.raises(RuntimeSetupError, match=last_words):
        install_into_runtime(fake_repo(tmp_path, "pillow>=999"), run=run)
