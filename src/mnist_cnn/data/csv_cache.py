"""The parsed-CSV cache: `.cache/<file name>.<digest>.npz` beside each CSV, trusted only after checks.

Parsing the MNIST training CSV takes about a second; loading its cached arrays a few milliseconds. But
a cache folder is as untrusted as the CSV beside it (a copied data folder, a planted file), so an
entry is used only when:
- it records the full SHA-256 of the CSV being loaded (the file name carries only 16 digits);
- it is a regular file no larger than `Limits.csv_rows` rows can make, whose members are the three
  arrays written here, stored uncompressed (a deflated member could inflate past the file's size);
- each array's header, read before its data, has the dtype and shape a fresh parse gives: uint8
  images (N, 28, 28) with 1 <= N <= `csv_rows`; int64 labels (N,) exactly when the CSV's layout has
  a label column; a 64-character digest;
- labels lie in 0-9, and no array needs pickle (`allow_pickle=False`: loading never runs code).
Anything else is ignored and rebuilt from the CSV, never an error.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from mnist_cnn.constants import IMAGE_SIDE, NUM_CLASSES, NUM_PIXELS
from mnist_cnn.io.files import atomic_write, open_nonblocking
from mnist_cnn.io.limits import DEFAULT_LIMITS, KiB, Limits

CACHE_DIR_NAME = ".cache"
_IMAGES, _LABELS, _DIGEST = "images.npy", "labels.npy", "sha256.npy"
# zip and .npy headers on top of the arrays themselves
_OVERHEAD_BYTES = 64 * KiB


def cache_path(path: Path, digest: str) -> Path:
    """Where the parse of `path` (whose SHA-256 is `digest`) is cached."""
    return path.parent / CACHE_DIR_NAME / f"{path.name}.{digest[:16]}.npz"


def read_cache(
    cache_file: Path, digest: str, has_label: bool, limits: Limits = DEFAULT_LIMITS
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The cached (images, labels) of the CSV whose SHA-256 is `digest`, or None to parse afresh.

    `has_label` is whether that CSV's layout has a label column (from its first line).
    """
    max_bytes = limits.csv_rows * (NUM_PIXELS + 8) + _OVERHEAD_BYTES
    try:
        with open_nonblocking(cache_file) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                return None
            with zipfile.ZipFile(handle) as archive:
                return _checked_arrays(archive, digest, has_label, limits)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, NotImplementedError):
        return None  # a damaged or foreign entry is rebuilt, not trusted


def _checked_arrays(
    archive: zipfile.ZipFile, digest: str, has_label: bool, limits: Limits
) -> tuple[np.ndarray, np.ndarray | None] | None:
    members = archive.infolist()
    names = [member.filename for member in members]
    wanted = {_IMAGES, _DIGEST} | ({_LABELS} if has_label else set())
    if len(names) != len(wanted) or set(names) != wanted:
        return None
    if any(member.compress_type != zipfile.ZIP_STORED for member in members):
        return None
    headers = {name: _array_header(archive, name) for name in names}

    if headers[_DIGEST] != ((), np.dtype("<U64")) or str(_load(archive, _DIGEST)[()]) != digest:
        return None
    shape, dtype = headers[_IMAGES]
    if dtype != np.uint8 or len(shape) != 3 or shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        return None
    rows = shape[0]
    if not 1 <= rows <= limits.csv_rows:
        return None
    if has_label and headers[_LABELS] != ((rows,), np.dtype(np.int64)):
        return None

    images = _load(archive, _IMAGES)
    labels = _load(archive, _LABELS) if has_label else None
    if labels is not None and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        return None
    return images, labels


def _array_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """A member's (shape, dtype) from its .npy header alone, before any data is read."""
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"unexpected .npy version {version}")
    if fortran_order:
        raise ValueError("the cache writes C-ordered arrays")
    return tuple(shape), dtype


def _load(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(name) as member:
        return np.load(member, allow_pickle=False)


def write_cache(cache_file: Path, digest: str, images: np.ndarray, labels: np.ndarray | None) -> None:
    """Store parsed arrays with their CSV's digest, atomically; a read-only data folder means no cache."""
    arrays = {"images": images, "sha256": np.array(digest, dtype="<U64")}
    if labels is not None:
        arrays["labels"] = labels

    def save(handle: IO[bytes]) -> None:
        np.savez(handle, **arrays)

    try:
        cache_file.parent.mkdir(exist_ok=True)
        for stale in cache_file.parent.glob(f"{cache_file.name.rsplit('.', 2)[0]}.*.npz"):
            stale.unlink()
        atomic_write(cache_file, save)
    except OSError:
        pass
