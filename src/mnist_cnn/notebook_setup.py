"""The notebook's setup: install into a live Colab or Kaggle runtime, step into the repository, mount Drive.

The install is one pip call that upgrades only what is below a bound, holding dependents at their versions;
upgrading an imported package asks for a restart. Standard library and `packaging` only: on Colab this
runs before the package is installed."""

from __future__ import annotations

import importlib
import os
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
DRIVE_MOUNT = "/content/drive"


@dataclass(frozen=True)
class NotebookPlace:
    """Where the notebook runs: the project it stepped into, and where its outputs go."""

    root: Path
    on_colab: bool
    installed: str | None  # what installing into the runtime did (None where nothing was installed)
    drive_dir: Path | None  # the outputs' folder on Google Drive, where the notebook keeps them there

    def outputs(self, models_dir: str, figures_dir: str, run_dir: str | None) -> tuple[str, str, str | None]:
        """The models, figures and run folders: the parameters' own, or on Drive."""
        if self.drive_dir is None:
            return models_dir, figures_dir, run_dir
        return tuple(str(self.drive_dir / name) for name in ("models", "figures", "run"))  # type: ignore[return-value]

    @property
    def summary(self) -> str:
        where = "Colab" if self.on_colab else "local"
        drive = f", outputs on Drive in {self.drive_dir}" if self.drive_dir else ""
        installed = f"{self.installed}\n" if self.installed else ""
        return f"{installed}working in {self.root.name} | {where}{drive}"


def enter_project(colab_repo: Path | None, use_drive: bool = False,
                  drive_dir: str | Path = "/content/drive/MyDrive/mnist-cnn",
                  mount: Callable[[str], None] | None = None) -> NotebookPlace:
    """Make the kernel ready: install on Colab, step into the repository, mount Drive with `use_drive`."""
    installed = None
    if colab_repo is not None:
        root = Path(colab_repo)
        if installed_version(PROJECT) is None:
            installed = install_into_runtime(root).summary()
    else:
        here = Path.cwd()
        root = here.parent if here.name == "notebooks" and (here.parent / "pyproject.toml").exists() else here
    os.chdir(root)
    drive = None
    if colab_repo is not None and use_drive:
        (mount or _mount_drive)(DRIVE_MOUNT)
        drive = Path(drive_dir)
    # TensorFlow's C++ start-up notes (and a CUDA probe on machines without a GPU) would show as red
    # error lines in a healthy run: drop those known lines, and only those, from the kernel's stderr
    from mnist_cnn.io.native_logs import filter_native_stderr

    filter_native_stderr()
    return NotebookPlace(root.resolve(), colab_repo is not None, installed, drive)


def _mount_drive(mount_point: str) -> None:
    from google.colab import drive

    drive.mount(mount_point)


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
    imported = {canonicalize_name(dist) for module, dists in metadata.packages_distributions().items()
                if module in sys.modules for dist in dists}
    return sorted(imported & {canonicalize_name(name) for name in names})


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
    upgraded = {name: (before, after) for name, before in below.items()
                if (after := installed_version(name)) not in (None, before)}
    report = SetupReport(command, upgraded, held)
    stale = imported_from(name for name, (before, _) in report.upgraded.items() if before is not None)
    if stale:
        raise RuntimeSetupError(f"{report.summary()}; this session had already imported {', '.join(stale)}: "
                                "restart the session (Colab: Runtime > Restart session), then Run all again")
    return report
