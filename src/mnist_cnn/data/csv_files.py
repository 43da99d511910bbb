"""MNIST CSV files: read one within the caps, open its container, check its checksum.

A `.csv`, `.csv.gz` or `.zip` is recognised by content. Size, inflated text and rows are each capped
(`io.limits`); errors name the file and the reason in one line."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from mnist_cnn.data.csv_format import parse_csv_bytes
from mnist_cnn.io.errors import CSVFormatError, InputFileError
from mnist_cnn.io.files import read_checksums, read_regular_file
from mnist_cnn.io.inflate import TooLargeError, check_zip_directory, gunzip, read_zip_member
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits, format_quantity

CHECKSUM_FILE = "SHA256SUMS"
_GZIP_MAGIC = b"\x1f\x8b"


def load_csv(path: str | os.PathLike, *,
             limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an MNIST-style CSV into uint8 images (N, 28, 28) and int64 labels (N,) or None.

    A `SHA256SUMS` beside `path` that lists the file must match. Raises `CSVFormatError` or `LimitError`."""
    path = Path(path)
    packed = read_regular_file(
        path, "csv_file_bytes", "a CSV file", limits=limits, error=CSVFormatError, also=("csv_text_bytes",)
    )
    _verify_listed_checksum(path, hashlib.sha256(packed).hexdigest())
    return parse_csv_bytes(_unpack(path, packed, limits), path, limits=limits)


def _unpack(path: Path, packed: bytes, limits: Limits) -> bytes | bytearray:
    """Decompress by content, not by name, up to `limits.csv_text_bytes`."""
    if packed[:2] != _GZIP_MAGIC and (packed[:4] == b"PK\x03\x04" or path.suffix.lower() == ".zip"):
        packed = _unzip(path, packed, limits)  # its one member may be a .csv.gz in turn
    if packed[:2] == _GZIP_MAGIC:
        try:
            return gunzip(packed, limits.csv_text_bytes)
        except TooLargeError:
            found = f"decompresses to more than {_size(limits.csv_text_bytes)} of text"
            raise limits.exceeded("csv_text_bytes", path, found) from None
        except ValueError as err:
            raise CSVFormatError(path, f"is not a valid gzip file ({err})") from None
    limits.check("csv_text_bytes", len(packed), path, "is {value} of text")
    return packed


def _unzip(path: Path, packed: bytes, limits: Limits) -> bytearray:
    """The one CSV member of a zip archive, read within the caps."""
    handle = io.BytesIO(packed)
    check_zip_directory(handle, path, limits)
    try:
        with zipfile.ZipFile(handle) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()
                       and not info.filename.startswith("__MACOSX/")
                       and not Path(info.filename).name.startswith(".")]
            csvs = [m for m in members if m.filename.lower().endswith((".csv", ".csv.gz"))]
            if len(csvs) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise CSVFormatError(path, f"a .zip must hold exactly one CSV file; this one holds {names}")
            return _read_member(path, archive, csvs[0], limits)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, InputFileError):  # ours: a CSVFormatError or a LimitError, as it is
            raise
        raise CSVFormatError(path, f"is not a valid zip file ({err})") from None


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytearray:
    """A zipped CSV's bytes: a .csv.gz member is held to the file cap, a plain one to the text cap."""
    name = "csv_file_bytes" if info.filename.lower().endswith(".gz") else "csv_text_bytes"
    cap = getattr(limits, name)
    try:
        return read_zip_member(archive, info, cap)
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
            path, f"checksum mismatch: {sums_file.name} lists sha256 {expected[:12]}..., the file has "
            f"{digest[:12]}...; the file has changed (restore it, or update {sums_file.name} "
            "if the change is intended)",
        )
