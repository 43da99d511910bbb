"""One run per directory: an exclusive `flock`, dropped by the OS however the process ends.

A second run gets `DirectoryBusyError` at once, naming the holder's PID. Re-entrant within a process; no lock
where there is no `flock` (Windows)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from mnist_cnn.io.errors import InputFileError

LOCK_NAME = ".mnist-cnn.lock"
_held: set[Path] = set()  # the directories this process holds


class DirectoryBusyError(InputFileError):
    """Another process holds the directory's lock."""


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike) -> Iterator[Path]:
    """Hold `directory` (created if missing) for this process until the block ends."""
    try:
        import fcntl
    except ImportError:  # no flock here: nothing to hold
        yield Path(directory)
        return
    folder = Path(directory).resolve()
    if folder in _held:  # an outer block of this process holds it, and releases it
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise InputFileError(folder, "is a file, not a directory: choose a folder for the run")
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(descriptor)
        raise DirectoryBusyError(
            folder, f"in use by another mnist-cnn run (PID {holder}); wait for it to end or choose "
            "another directory",
        ) from None
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    _held.add(folder)
    try:
        yield folder
    finally:
        _held.discard(folder)
        if created and os.listdir(folder) == [LOCK_NAME]:
            # a run that stopped before writing anything leaves no trace of its own making
            (folder / LOCK_NAME).unlink()
            folder.rmdir()
        os.close(descriptor)  # closing the only descriptor releases the lock
