"""Install the package into a live Colab or Kaggle runtime without breaking what it ships.

One pip call upgrades only what is below a bound, holding dependents at their versions; upgrading an imported
package asks for a restart. Standard library and `packaging` only."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

PROJECT = "mnist-cnn"


class RuntimeSetupError(Exception):
    """Stops a notebook's Run all with one line that says what to do, instead of a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [f"RuntimeSetupError: {self}"]


@dataclass
class SetupReport:
    """What `install_into_runtime` did: the pip command, and the versions it changed."""

    command: list[str]
    upgraded: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # name: (before, after)
    held: list[str] = field(default_factory=list)  # dependents pinned so that pip keeps them working

    def summary(self) -> str:
        if not self.upgraded:
            return "installed mnist-cnn; every dependency was already within its bounds"
        changes = ", ".join(f"{name} {before or 'none'} -> {after}"
                            for name, (before, after) in sorted(self.upgraded.items()))
        return f"installed mnist-cnn and upgraded {changes}"


def project_requirements(repo: Path) -> list[Requirement]:
    """The runtime dependencies in the repository's pyproject.toml."""
    with open(repo / "pyproject.toml", "rb") as handle:
        dependencies = tomllib.load(handle)["project"]["dependencies"]
    return [Requirement(item) for item in dependencies]


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def outside_bounds(requirements: Iterable[Requirement]) -> dict[str, str | None]:
    """The requirements the installed packages do not meet: name -> installed version (or None)."""
    missing = {}
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = installed_version(requirement.name)
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            missing[canonicalize_name(requirement.name)] = installed
    return missing


def dependents_of(names: Iterable[str]) -> list[str]:
    """`dist==version` for every installed distribution (but this project) that requires one of `names`."""
    wanted = {canonicalize_name(name) for name in names}
    held = set()
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"]
        if not dist_name or canonicalize_name(dist_name) == PROJECT:
            continue
        for line in dist.requires or []:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            # a dependency only through an extra is not installed for it; skip those
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            if canonicalize_name(requirement.name) in wanted:
                held.add(f"{dist_name}=={dist.version}")
                break
    return sorted(held)


def imported_from(names: Iterable[str]) -> list[str]:
    """Those of the distributions `names` whose modules this process has already imported."""
    wanted = {canonicalize_name(name) for name in names}
    found = set()
    for module, dists in metadata.packages_distributions().items():
        if module in sys.modules:
            found.update(canonicalize_name(dist) for dist in dists if canonicalize_name(dist) in wanted)
    return sorted(found)


def install_into_runtime(repo: Path,
                         run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> SetupReport:
    """`pip install -e repo` in one call; `RuntimeSetupError` on failure or an imported package upgraded."""
    repo = Path(repo)
    below = outside_bounds(project_requirements(repo))
    held = dependents_of(below)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "-e", str(repo), *held]
    done = run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise RuntimeSetupError(f"pip could not install the project ({reason})")
    importlib.invalidate_caches()  # importlib.metadata caches directory listings, which pip just changed
    report = SetupReport(command, held=held)
    for name, before in below.items():
        after = installed_version(name)
        if after is not None and after != before:
            report.upgraded[name] = (before, after)
    stale = imported_from(name for name, (before, _) in report.upgraded.items() if before is not None)
    if stale:
        raise RuntimeSetupError(f"{report.summary()}; this session had already imported {', '.join(stale)}: "
                                "restart the session (Colab: Runtime > Restart session), then Run all again")
    return report
