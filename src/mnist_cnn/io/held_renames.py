"""The renames a switch-over holds back: state shared by `io.files` and `io.switch`, below both."""

from __future__ import annotations

import contextvars
from pathlib import Path

# the (temporary, target) pairs of the open switch-over, or None when none is open
PENDING: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "mnist_cnn_switch", default=None
)


def held_back(temp: Path, target: Path) -> bool:
    """True when an open switch-over will rename the complete `temp` (the caller must not)."""
    pending = PENDING.get()
    if pending is not None:
        pending.append((Path(temp), Path(target)))
    return pending is not None
