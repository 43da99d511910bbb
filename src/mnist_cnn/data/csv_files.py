"""MNIST CSV files: read one within the caps, open its container, check its checksum, use the cache.

`load_csv` accepts a `.csv`, a `.csv.gz` (concatenated gzip members too) or a `.zip` holding one CSV
(itself plain or gzipped), recognised by content rather than by name. Every step is bounded by
`mnist_cnn.io.limits`: the file's size from `stat` before it is read, its text while it inflates (a 2 MB
gzip can inflate to 2 GiB), its row count before parsing. A bad file raises `CSVFormatError`, a file
over a cap `LimitError`; both name the file and say why in one line.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from mnist_cnn.data.csv_cache import cache_path, read_cache, write_cache
from mnist_cnn.data.csv_format import parse_csv_bytes
from mnist_cnn.data.csv_layout import header_has_label
from mnist_cnn.io.errors import CSVFormatError, InputFileError
from mnist_cnn.io.files import read_checksums, read_regular_file
from mnist_cnn.io.inflate import TooLargeError, check_zip_directory, gunzip, read_zip_member
from mnist_cnn.io.limits import DEFAULT_LIMITS, KiB, Limits, format_quantity

CHECKSUM_FILE = "SHA256SUMS"
# how much decompressed text is enough to read the header line (a Kaggle header is 7 KB)
HEAD_BYTES = 64 * KiB
_GZIP_MAGIC = b"\x1f\x8b"


def load_csv(
    path: str | os.PathLike, *, use_cache: bool = True, limits: Limits = DEFAULT_LIMITS
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an MNIST-style CSV into uint8 images (N, 28, 28) and int64 labels (N,) or None.

    The layout is recognised without being told: a `label,...` header with 784 pixel columns, a
    header of 784 pixel columns (no labels), or no header at all (785 or 784 numeric fields).

    Where a `SHA256SUMS` file beside `path` lists it, the file's checksum must match. With
    `use_cache`, the parsed arrays are kept in a `.cache/` folder beside the file with the file's
    SHA-256, so a repeated load skips parsing; an entry is used only when it records that digest and
    passes the checks a fresh parse does (see `mnist_cnn.data.csv_cache`).

    Raises:
        CSVFormatError: the file is missing, not a regular file, not a CSV, or has a bad header, row
            or cell.
        LimitError: the file, its text or its rows are over `limits`.
    """
    path = Path(path)
    packed = read_regular_file(
        path, "csv_file_bytes", "a CSV file", limits=limits, error=CSVFormatError, also=("csv_text_bytes",)
    )
    digest = hashlib.sha256(packed).hexdigest()
    _verify_listed_checksum(path, digest)

    cache_file = cache_path(path, digest)
    if use_cache and cache_file.exists():
        has_label = _peek_has_label(path, packed, limits)
        cached = None if has_label is None else read_cache(cache_file, digest, has_label, limits)
        if cached is not None:
            return cached

    images, labels = parse_csv_bytes(_unpack(path, packed, limits), path, limits=limits)
    if use_cache:
        write_cache(cache_file, digest, images, labels)
    return images, labels


def _peek_has_label(path: Path, packed: bytes, limits: Limits) -> bool | None:
    """Whether the file's layout has labels, from its first line only; None when that cannot tell.

    A cached parse must agree with it, so an entry that dropped or invented labels is not used.
    """
    try:
        return header_has_label(_unpack(path, packed, limits, head=HEAD_BYTES), path)
    except (CSVFormatError, ValueError):
        return None


def _unpack(path: Path, packed: bytes, limits: Limits, head: int = 0) -> bytes | bytearray:
    """Decompress by content, not by file name: a `.csv` that is really gzip still reads.

    Inflation stops at `limits.csv_text_bytes`; with `head`, only the first `head` bytes are made.
    """
    cap = head or limits.csv_text_bytes
    if packed[:2] == _GZIP_MAGIC:
        return _gunzip(path, packed, cap, limits, head)
    if packed[:4] == b"PK\x03\x04" or path.suffix.lower() == ".zip":
        return _unpack_zip(path, packed, limits, head)
    if head:
        return packed[:head]
    if len(packed) > cap:
        raise limits.exceeded("csv_text_bytes", path, f"is {_size(len(packed))} of text", value=len(packed))
    return packed


def _gunzip(path: Path, packed: bytes | bytearray, cap: int, limits: Limits, head: int) -> bytearray:
    try:
        return gunzip(packed, cap, truncate=bool(head))
    except TooLargeError:
        raise limits.exceeded(
            "csv_text_bytes", path, f"decompresses to more than {_size(cap)} of text"
        ) from None
    except ValueError as err:
        raise CSVFormatError(path, f"is not a valid gzip file ({err})") from None


def _unpack_zip(path: Path, packed: bytes, limits: Limits, head: int) -> bytes | bytearray:
    handle = io.BytesIO(packed)
    check_zip_directory(handle, path, limits)
    try:
        with zipfile.ZipFile(handle) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and not info.filename.startswith("__MACOSX/")
                and not Path(info.filename).name.startswith(".")
            ]
            csvs = [m for m in members if m.filename.lower().endswith((".csv", ".csv.gz"))]
            if len(csvs) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise CSVFormatError(
                    path, f"a .zip must hold exactly one CSV file; this one holds {names}"
                )
            inner = _read_member(path, archive, csvs[0], limits, head)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, InputFileError):  # ours: a CSVFormatError or a LimitError, as it is
            raise
        raise CSVFormatError(path, f"is not a valid zip file ({err})") from None
    if inner[:2] == _GZIP_MAGIC:
        return _gunzip(path, inner, head or limits.csv_text_bytes, limits, head)
    return inner


def _read_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, head: int
) -> bytearray:
    """A zipped CSV's bytes: a .csv.gz member is held to the file cap, a plain one to the text cap."""
    name = "csv_file_bytes" if info.filename.lower().endswith(".gz") else "csv_text_bytes"
    cap = head or getattr(limits, name)
    try:
        return read_zip_member(archive, info, cap, truncate=bool(head))
    except TooLargeError:
        if info.file_size > cap:
            found = f"holds {info.filename}, which declares {_size(info.file_size)}"
            raise limits.exceeded(name, path, found, value=info.file_size) from None
        found = f"holds {info.filename}, which inflates to more than {_size(cap)}"
        raise limits.exceeded(name, path, found) from None


def _size(value: int) -> str:
    return format_quantity(value, "bytes")


def _verify_listed_checksum(path: Path, digest: str) -> None:
    sums_file = path.parent / CHECKSUM_FILE
    if not sums_file.is_file():
        return
    expected = read_checksums(sums_file).get(path.name)
    if expected is not None and expected != digest:
        raise CSVFormatError(
            path,
            f"checksum mismatch: {sums_file.name} lists sha256 {expected[:12]}..., the file has "
            f"{digest[:12]}...; the file has changed (restore it, or update {sums_file.name} "
            "if the change is intended)",
        )


