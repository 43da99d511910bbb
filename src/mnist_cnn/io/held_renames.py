"""The renames a switch-over holds back: the one piece of state `io.files` (which writes) and
`io.switch` (which commits a set of files) share, kept below both so neither imports the other's
caller."""

from __future__ import annotations

import contextvars
from pathlib import Path

# the (temporary, target) pairs of the open switch-over, or None when none is open
PENDING: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "mnist_cnn_switch", default=None
)


def held_back(temp: Path, target: Path) -> bool:
    """Called by `atomic_path` once `temp` is complete: True when a switch-over is open and will
    rename it (the caller must not), False when the caller renames it now."""
    pending = PENDING.get()
    if pending is None:
        return False
    pending.append((Path(temp), Path(target)))
    return True
