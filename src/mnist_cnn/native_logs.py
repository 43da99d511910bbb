"""Keeping what TensorFlow's C++ core writes to file descriptor 2 out of the way.

TensorFlow 2.21 logs through absl before it reads TF_CPP_MIN_LOG_LEVEL, and its converters narrate
every step (temporary paths included), all straight to descriptor 2, where Python's own
`sys.stderr` setting cannot reach. The only lever is the descriptor itself.
"""

from __future__ import annotations

import os
import sys


def silence_native_stderr() -> int | None:
    """Point descriptor 2 at /dev/null; return a duplicate of what it was (None where there is none).

    Pass the duplicate to `restore_native_stderr` to undo, or keep it to write to the real stderr.
    """
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): leave it as it is
        return None
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return original


def restore_native_stderr(original: int | None) -> None:
    """Undo `silence_native_stderr`: descriptor 2 is what it was again."""
    if original is None:
        return
    os.dup2(original, 2)
    os.close(original)
