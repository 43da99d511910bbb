"""A run's files switch over as one set: all written in full, then renamed together.

An atomic journal commits the held-back renames; after a kill, `finish_switch_over` completes them on the next
start. Entries must name a hidden temporary beside their target: a planted journal is harmless."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from mnist_cnn.io.errors import InputFileError
from mnist_cnn.io.files import PENDING, atomic_write, read_regular_file

JOURNAL_NAME = ".mnist-cnn-switch.json"
JOURNAL_MAX_BYTES = 1 << 20  # a real one lists a dozen files


@contextlib.contextmanager
def switch_over(journal_dir: str | os.PathLike) -> Iterator[None]:
    """Hold back every `atomic_path` rename in the block; rename them as one set when it ends.

    The caller holds `journal_dir`'s lock. An inner block's files join the outer set."""
    if PENDING.get() is not None:
        yield
        return
    pending: list[tuple[Path, Path]] = []
    journal = Path(journal_dir) / JOURNAL_NAME
    token = PENDING.set(pending)
    try:
        try:
            yield
        finally:
            PENDING.reset(token)
        entries = [{"temporary": str(temp.resolve()), "target": str(target.resolve())}
                   for temp, target in pending]
        atomic_write(journal, lambda handle: handle.write(json.dumps(entries, indent=1)), mode="w")
    except BaseException:  # nothing committed: the new files go, the old set stays
        for temp, _ in pending:
            temp.unlink(missing_ok=True)
        raise
    _rename_all(pending, journal)


def finish_switch_over(journal_dir: str | os.PathLike) -> list[Path]:
    """Complete a committed but unfinished switch-over; return the targets renamed now."""
    journal = Path(journal_dir) / JOURNAL_NAME
    return _rename_all(_read_journal(journal), journal) if journal.exists() else []


def _rename_all(pairs: list[tuple[Path, Path]], journal: Path) -> list[Path]:
    """Rename each (temporary, target) the committed `journal` lists, then remove the journal."""
    renamed = []
    for temp, target in pairs:
        if temp.exists():  # absent: renamed before the process died
            os.replace(temp, target)
            renamed.append(target)
    for folder in {target.parent for _, target in pairs} | {journal.parent}:
        _fsync_directory(folder)  # the renames reach the disk before the journal goes
    journal.unlink()
    return renamed


def _read_journal(journal: Path) -> list[tuple[Path, Path]]:
    damaged = "is not a switch-over journal this package wrote; delete it to keep the files as they are"
    data = read_regular_file(journal, JOURNAL_MAX_BYTES, "a switch-over journal")
    try:
        entries = json.loads(data)
        pairs = [(Path(entry["temporary"]), Path(entry["target"])) for entry in entries]
    except (ValueError, TypeError, KeyError):
        raise InputFileError(journal, damaged) from None
    for temp, target in pairs:
        if temp.parent != target.parent or not temp.name.startswith(f".{target.name}."):
            raise InputFileError(journal, damaged)
    return pairs


def _fsync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a directory; the renames happened
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
