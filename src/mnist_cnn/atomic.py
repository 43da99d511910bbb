"""Writing a file so that its name never shows a half-written file: write beside it, sync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `target` (same ending) to write by name; renamed onto `target` after.

    For writers that insist on a path of their own (Keras' `save`, h5py). After the block the file
    is flushed to disk and renamed into place; if the block fails, the temporary file is removed and
    `target` is untouched.
    """
    target = Path(target)
    # every ending, not only the last: Keras insists on ".weights.h5" for weights files
    ending = "".join(target.suffixes)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=ending)
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
