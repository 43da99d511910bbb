"""The installed libraries are at or above the security floors, and both dependency lists say the same."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import ROOT

# below these, a published vulnerability reaches this project (README, "Dependency floors")
SECURITY_FLOORS = {"keras": "3.13.2", "pillow": "12.2"}


def requirements_txt() -> dict[str, Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): r for r in reqs}


def pyproject_dependencies() -> dict[str, Requirement]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.DOTALL | re.MULTILINE).group(1)
    reqs = [Requirement(item) for item in re.findall(r'"([^"]+)"', block)]
    return {r.name.lower(): r for r in reqs}


def floor(requirement: Requirement) -> Version | None:
    lows = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return max(lows) if lows else None


@pytest.mark.parametrize("name", sorted(SECURITY_FLOORS))
def test_both_lists_keep_the_security_floor(name):
    for listing in (requirements_txt(), pyproject_dependencies()):
        assert floor(listing[name]) >= Version(SECURITY_FLOORS[name]), name


def test_runtime_bounds_are_the_same_in_both_lists():
    txt, project = requirements_txt(), pyproject_dependencies()
    for name, requirement in project.items():
        assert txt[name].specifier == requirement.specifier, name


def test_installed_versions_satisfy_every_bound():
    for name, requirement in pyproject_dependencies().items():
        installed = version(name)
        assert requirement.specifier.contains(installed, prereleases=True), (name, installed)


def test_the_package_requires_no_backend_and_offers_one_extra_for_each():
    """Like Keras: no backend among the dependencies; requirements.txt (what `make`, CI and the
    notebook install) takes TensorFlow with the bounds of the `tensorflow` extra."""
    text = (ROOT / "pyproject.toml").read_text()
    assert not {"tensorflow", "jax", "torch"} & set(pyproject_dependencies())
    for backend in ("tensorflow", "jax", "torch"):
        assert re.search(rf'^{backend} = \["{backend}>=', text, re.MULTILINE), backend
    extra = Requirement(re.search(r'^tensorflow = \["([^"]+)"\]', text, re.MULTILINE).group(1))
    assert requirements_txt()["tensorflow"].specifier == extra.specifier
