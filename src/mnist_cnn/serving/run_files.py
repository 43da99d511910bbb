"""The run's records on disk: metrics.json and the report's figures, each written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_cnn.io.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure_path(directory: str | Path, name: str) -> Path:
    """Where the figure `name` is saved: <directory>/<name>.png."""
    return Path(directory) / f"{name}.png"


def save_figure(fig: Figure, directory: str | Path, name: str, dpi: int = 110) -> Path:
    """Save `fig` as <directory>/<name>.png (written beside, then renamed) and return the path."""
    target = figure_path(directory, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda handle: fig.savefig(handle, format="png", dpi=dpi))
    return target


def write_metrics(path: str | Path, metrics: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Write metrics plus run context (settings, versions, checksums, timing) as JSON, atomically."""
    payload = {**metrics, **context}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(payload), indent=2, sort_keys=False)
    atomic_write(path, lambda handle: handle.write(text + "\n"), mode="w")
    return payload


def json_safe(value):
    """NaN is not JSON: store it as null."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value
