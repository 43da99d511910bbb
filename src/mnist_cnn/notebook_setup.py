"""The notebook's setup once the repository is on disk; standard library only, as on Colab it runs first."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnist_cnn.runtime_setup import PROJECT, install_into_runtime, installed_version

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
