"""The runtimes users have, rebuilt from the package registries: Colab's since 2025 and the newest Keras.

Each `Runtime` is a virtual environment under `.runtimes/` (kept between runs, rebuilt when its pins
change) with the Python, TensorFlow and Keras that one Colab runtime shipped. Keras is pure Python, so
further Keras versions run on the same TensorFlow from a `--target` folder put first on PYTHONPATH:
one TensorFlow install per runtime, one small folder per Keras version.

Where a runtime's Python is not on this machine, `python_for` returns None and the tests say so in one
line and skip it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".runtimes"
COLAB_PINS = Path(__file__).with_name("colab-2026-08-19.txt")
COLAB_PIP = "pip==24.1.2"  # Colab's pip: its resolver decides what the setup cell upgrades


@dataclass(frozen=True)
class Runtime:
    """One TensorFlow environment, and the Keras versions tried on it (the first is its own)."""

    name: str
    python: str  # major.minor
    pins: tuple[str, ...]  # requirement lines, or ("-r", file)
    keras: tuple[str, ...]
    note: str

    @property
    def folder(self) -> Path:
        return HOME / self.name

    @property
    def python_bin(self) -> Path:
        return self.folder / "bin" / "python"

    def pinned(self, name: str) -> str | None:
        """The version the pins give `name`, from the list or the pins file."""
        lines = Path(self.pins[1]).read_text().splitlines() if self.pins[:1] == ("-r",) else self.pins
        prefix = f"{name.lower()}=="
        return next((line.split("==")[1].strip() for line in lines if line.lower().startswith(prefix)), None)


# From googlecolab/backend-info's pip-freeze.txt history (TensorFlow, Keras, NumPy, h5py, ml-dtypes
# as each runtime had them); the newest Keras runs in the project's own environment.
RUNTIMES = (
    Runtime("colab-2025.07", "3.11",
            ("tensorflow==2.18.0", "keras==3.8.0", "numpy==2.0.2", "h5py==3.14.0", "ml-dtypes==0.4.1"),
            ("3.8.0",), "Colab 2025.07: Python 3.11, TensorFlow 2.18"),
    Runtime("colab-2026.01", "3.12",
            ("tensorflow==2.19.0", "keras==3.10.0", "numpy==2.0.2", "h5py==3.15.1", "ml-dtypes==0.5.4"),
            ("3.10.0", "3.13.2"), "Colab 2025.10 to 2026.04: Python 3.12, TensorFlow 2.19"),
    Runtime("colab-2026.08", "3.13", ("-r", str(COLAB_PINS)), ("3.13.2", "3.14.0"),
            "Colab 2026.08: Python 3.13, TensorFlow 2.20 (tests/runtimes/colab-2026-08-19.txt)"),
)
COLAB = RUNTIMES[-1]


def python_for(version: str) -> str | None:
    """An interpreter of `version` (major.minor) that runs: one of pyenv's, or on PATH; None if none.

    pyenv's shims stand on PATH for every version it has, and fail for those not selected, so each
    candidate is run once before it is trusted.
    """
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    candidates = [*reversed(candidates), shutil.which(f"python{version}")]
    for candidate in filter(None, candidates):
        runs = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
                              capture_output=True, text=True)
        if runs.returncode == 0 and runs.stdout.strip() == str(tuple(map(int, version.split(".")))):
            return candidate
    return None


def _fingerprint(runtime: Runtime) -> str:
    text = "\n".join(runtime.pins) + COLAB_PIP
    if runtime.pins[:1] == ("-r",):
        text += Path(runtime.pins[1]).read_text()
    return hashlib.sha256(text.encode()).hexdigest()


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], check=True,
                   stdout=subprocess.DEVNULL)


def build(runtime: Runtime) -> Path:
    """The runtime's environment, built from its pins unless already built from the same pins."""
    stamp = runtime.folder / ".pins-sha256"
    wanted = _fingerprint(runtime)
    if stamp.is_file() and stamp.read_text() == wanted and runtime.python_bin.exists():
        return runtime.python_bin
    interpreter = python_for(runtime.python)
    if interpreter is None:
        raise FileNotFoundError(f"no Python {runtime.python} on this machine")
    shutil.rmtree(runtime.folder, ignore_errors=True)
    subprocess.run([interpreter, "-m", "venv", str(runtime.folder)], check=True)
    pip(runtime.python_bin, "install", "--quiet", COLAB_PIP)
    pip(runtime.python_bin, "install", "--quiet", *runtime.pins)
    stamp.write_text(wanted)
    return runtime.python_bin


def restore_pins(runtime: Runtime) -> None:
    """Put the environment back as pinned (a test may have installed the project into it)."""
    pip(runtime.python_bin, "uninstall", "--quiet", "--yes", "mnist-cnn")
    pip(runtime.python_bin, "install", "--quiet", *runtime.pins)


def keras_overlay(runtime: Runtime, keras_version: str) -> Path | None:
    """A folder holding `keras_version` alone, to put first on PYTHONPATH; None for the runtime's own."""
    if keras_version == runtime.keras[0]:
        return None
    folder = HOME / f"keras-{keras_version}"
    if not (folder / "keras" / "__init__.py").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        pip(runtime.python_bin, "install", "--quiet", "--no-deps", "--target", str(folder),
            f"keras=={keras_version}")
    return folder


def environment(overlay: Path | None, *paths: Path) -> dict[str, str]:
    """os.environ with `overlay` and `paths` first on PYTHONPATH, and TensorFlow's start-up notes off."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    entries = [str(p) for p in (overlay, *paths) if p is not None]
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env
