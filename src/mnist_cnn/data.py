"""Read, validate and prepare MNIST-style CSV files.

`load_csv` accepts every common MNIST CSV layout (Kaggle "MNIST in CSV", Kaggle "Digit Recognizer"
train and test, headerless mirrors) as `.csv`, `.csv.gz` or a `.zip` holding one CSV, and rejects bad
input with a single exception type, `CSVFormatError`, whose message names the file, the 1-based line,
the column and the reason. Nothing partial is ever returned.

Parsing takes a fast path first: a small C scanner (`_fastcsv`, built at install time) or, where it
could not be built, one vectorised `np.fromstring` call with an end-of-row marker that makes a row with
a wrong field count impossible to miss. Either refuses anything unusual; only then does a careful
line-by-line parser run, which accepts what is merely odd (leading zeros) and says exactly where and
why the rest is wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:  # the optional C accelerator built by setup.py; the NumPy parser below stands in without it
    from mnist_cnn import _fastcsv
except ImportError:  # pragma: no cover - depends on how the package was installed
    _fastcsv = None

IMAGE_SIDE = 28
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
CACHE_DIR_NAME = ".cache"
CHECKSUM_FILE = "SHA256SUMS"

_ROW_END = b",-1,"  # marker that replaces each newline; no valid cell can be negative
_DIGITS_AND_SEPARATORS = b"0123456789,\n"


class InputFileError(ValueError):
    """A file that cannot be used (a CSV, an image, a model): its path, where in it, and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str, where: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}{where}: {reason}")


class CSVFormatError(InputFileError):
    """A CSV that cannot be used: names the file and, where it applies, the line, column and reason."""

    def __init__(
        self,
        path: str | os.PathLike,
        reason: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where += f": line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(path, reason, where)


@dataclass(frozen=True)
class _Layout:
    """What the first line said about the file."""

    has_label: bool
    column_names: tuple[str, ...] | None  # None when the file has no header row

    @property
    def num_fields(self) -> int:
        return NUM_PIXELS + int(self.has_label)

    def column_title(self, index: int) -> str:
        """How a 0-based column is described in an error."""
        if self.column_names is not None:
            return repr(self.column_names[index])
        if self.has_label and index == 0:
            return "label"
        return f"pixel {index - int(self.has_label)}"


def load_csv(
    path: str | os.PathLike, *, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an MNIST-style CSV into uint8 images (N, 28, 28) and int64 labels (N,) or None.

    The layout is recognised without being told: a `label,...` header with 784 pixel columns, a
    header of 784 pixel columns (no labels), or no header at all (785 or 784 numeric fields).

    Where a `SHA256SUMS` file beside `path` lists it, the file's checksum must match. With
    `use_cache`, the parsed arrays are kept in a `.cache/` folder beside the file, keyed by the
    file's SHA-256, so a repeated load skips parsing; a changed file never reuses a stale entry.

    Raises:
        CSVFormatError: the file is missing, unreadable, not a CSV, or has a bad header, row or cell.
    """
    path = Path(path)
    try:
        packed = path.read_bytes()
    except FileNotFoundError:
        raise CSVFormatError(path, "file not found") from None
    except IsADirectoryError:
        raise CSVFormatError(path, "is a directory, not a CSV file") from None
    except OSError as err:
        raise CSVFormatError(path, f"cannot be read ({err.strerror or err})") from None

    digest = hashlib.sha256(packed).hexdigest()
    _verify_listed_checksum(path, digest)

    cache_file = _cache_path(path, digest)
    if use_cache and cache_file.is_file():
        cached = _read_cache(cache_file)
        if cached is not None:
            return cached

    images, labels = parse_csv_bytes(_unpack(path, packed), path)
    if use_cache:
        _write_cache(cache_file, images, labels)
    return images, labels


def parse_csv_bytes(
    text: bytes, path: str | os.PathLike = "<bytes>"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse the (already decompressed) bytes of an MNIST-style CSV; `path` is used in errors."""
    _reject_non_text(text, path)
    if text.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as Excel writes
        text = text[3:]
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    if re.search(rb"\S", text) is None:
        raise CSVFormatError(path, "file is empty")

    first_end = text.find(b"\n")
    first_line = text if first_end < 0 else text[:first_end]
    layout = _read_layout(first_line, path)
    if layout.column_names is not None:
        body_start, first_body_line = (len(text) if first_end < 0 else first_end + 1), 2
    else:
        body_start, first_body_line = 0, 1
    body_end = len(text)
    while body_end > body_start and text[body_end - 1] == 0x0A:  # trailing blank lines are fine
        body_end -= 1
    if body_end == body_start:
        raise CSVFormatError(path, "has a header but no data rows", line=2)

    # a view, not a copy: the body of the training set is 110 MB
    body = memoryview(text)[body_start:body_end]
    values = _parse_body_fast(body, layout)
    if values is None:
        values = _parse_body_slow(body.tobytes(), layout, path, first_body_line)
    _check_ranges(values, layout, path, first_body_line)

    pixels = values[:, int(layout.has_label) :]
    images = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    labels = values[:, 0].astype(np.int64) if layout.has_label else None
    return images, labels


def _unpack(path: Path, packed: bytes) -> bytes:
    """Decompress by content, not by file name: a `.csv` that is really gzip still reads."""
    if packed[:2] == b"\x1f\x8b":
        try:
            # zlib checks the gzip CRC in C, faster than the gzip module's separate pass
            return zlib.decompress(packed, wbits=16 + zlib.MAX_WBITS)
        except zlib.error:
            pass
        try:  # concatenated gzip members, which zlib.decompress stops after the first of
            return gzip.decompress(packed)
        except (OSError, EOFError, zlib.error) as err:
            raise CSVFormatError(path, f"is not a valid gzip file ({err})") from None
    if packed[:4] == b"PK\x03\x04" or path.suffix.lower() == ".zip":
        return _unpack_zip(path, packed)
    return packed


def _unpack_zip(path: Path, packed: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(packed)) as archive:
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
            inner = archive.read(csvs[0])
    except zipfile.BadZipFile as err:
        raise CSVFormatError(path, f"is not a valid zip file ({err})") from None
    if inner[:2] == b"\x1f\x8b":
        inner = gzip.decompress(inner)
    return inner


_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"%PDF": "a PDF document",
    b"\x93NUMPY": "a NumPy .npy file",
    b"\x89HDF": "an HDF5 file",
}


def _reject_non_text(text: bytes, path: str | os.PathLike) -> None:
    head = text[:4096]
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise CSVFormatError(path, f"is {what}, not a text CSV")
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")):
        raise CSVFormatError(
            path, "is an HTML/XML page, not a CSV (a download that returned a web page?)"
        )
    if b"\x00" in head:
        raise CSVFormatError(path, "is binary data, not a text CSV")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # a multi-byte character cut by the 4096-byte window is not binary data
        if err.start < len(head) - 4:
            raise CSVFormatError(path, "is binary data, not a text CSV") from None


def _read_layout(first_line: bytes, path: str | os.PathLike) -> _Layout:
    fields = first_line.split(b",")
    if first_line.translate(None, b"0123456789,") == b"":
        # all numeric: no header row; the field count says whether a label leads
        if len(fields) in (NUM_PIXELS, NUM_PIXELS + 1):
            return _Layout(has_label=len(fields) == NUM_PIXELS + 1, column_names=None)
        raise CSVFormatError(
            path,
            f"has {len(fields)} fields; expected {NUM_PIXELS + 1} (label + {NUM_PIXELS} pixels) "
            f"or {NUM_PIXELS} (pixels only)",
            line=1,
        )
    try:
        names = tuple(f.decode("utf-8").strip().strip('"').strip() for f in fields)
    except UnicodeDecodeError:
        raise CSVFormatError(path, "header is not UTF-8 text", line=1) from None
    has_label = names[0].lower() == "label"
    expected = NUM_PIXELS + int(has_label)
    if len(names) != expected:
        what = (
            f"a 'label' column and {NUM_PIXELS} pixel columns"
            if has_label
            else (f"{NUM_PIXELS} pixel columns (or 'label' first and {NUM_PIXELS} pixels)")
        )
        raise CSVFormatError(
            path, f"header has {len(names)} columns; expected {expected}: {what}", line=1
        )
    if "label" in (n.lower() for n in names[1:]):
        raise CSVFormatError(path, "header has a 'label' column that is not the first", line=1)
    return _Layout(has_label=has_label, column_names=names)


def _parse_body_fast(body: memoryview, layout: _Layout) -> np.ndarray | None:
    """All rows as an (N, fields) integer array, or None when the body needs the careful parser."""
    if _fastcsv is not None:
        return _parse_body_c(body, layout.num_fields)
    return _parse_body_numpy(body.tobytes(), layout.num_fields)


def _parse_body_c(body: memoryview, num_fields: int) -> np.ndarray | None:
    # every cell takes at least two bytes with its separator, which bounds the row count without
    # a counting pass; np.empty does not touch the pages it does not fill
    max_rows = (len(body) + 1) // (2 * num_fields) + 1
    out = np.empty((max_rows, num_fields), dtype=np.uint8)
    ok, cells = _fastcsv.parse_uint8(body, out, num_fields)
    if not ok or cells % num_fields:
        return None
    return out[: cells // num_fields]


def _parse_body_numpy(body: bytes, num_fields: int) -> np.ndarray | None:
    if body.translate(None, _DIGITS_AND_SEPARATORS):
        return None
    try:
        flat = np.fromstring(body.replace(b"\n", _ROW_END) + _ROW_END, dtype=np.int16, sep=",")
    except ValueError:  # an empty cell or another unparsable run
        return None
    width = num_fields + 1
    if flat.size % width:
        return None
    table = flat.reshape(-1, width)
    # every row's marker sits in the last column exactly when every row has the right field count
    if not (table[:, -1] == -1).all():
        return None
    values = table[:, :-1]
    if values.min() < 0 or values.max() > 255:
        return None
    # int16 parsing wraps silently, so "65541" could pass as 5: the digits it took to write the
    # parsed values must be exactly the digits in the text (this also sends leading zeros to the
    # careful parser); with the structure checked, commas and newlines are known by count
    rows = table.shape[0]
    digits_in_text = len(body) - rows * (num_fields - 1) - (rows - 1)
    digits_parsed = values.size + sum(int(np.count_nonzero(values >= 10**k)) for k in (1, 2))
    return values if digits_parsed == digits_in_text else None


def _check_ranges(
    values: np.ndarray, layout: _Layout, path: str | os.PathLike, first_body_line: int
) -> None:
    """Raise for the first label outside 0-9 or pixel outside 0-255, in file order."""
    label_max = NUM_CLASSES - 1
    if values.max() <= 255 and not (layout.has_label and values[:, 0].max() > label_max):
        return
    limits = np.full(values.shape[1], 255, dtype=np.int16)
    if layout.has_label:
        limits[0] = label_max
    bad = values > limits
    row, col = np.unravel_index(np.argmax(bad), bad.shape)
    raise CSVFormatError(
        path,
        _range_reason(layout, int(col), str(values[row, col])),
        line=first_body_line + int(row),
        column=int(col) + 1,
    )


def _range_reason(layout: _Layout, col: int, text: str) -> str:
    if layout.has_label and col == 0:
        return f"label {text} is outside 0-9"
    return f"pixel value {text} in column {layout.column_title(col)} is outside 0-255"


def _parse_body_slow(
    body: bytes, layout: _Layout, path: str | os.PathLike, first_body_line: int
) -> np.ndarray:
    """Parse line by line, raising for the first bad line; for bodies the fast parser refused."""
    expected = layout.num_fields
    rows = []
    for offset, line in enumerate(body.split(b"\n")):
        line_no = first_body_line + offset
        if not line.strip():
            raise CSVFormatError(path, f"empty line; expected {expected} fields", line=line_no)
        fields = line.split(b",")
        for col, cell in enumerate(fields[:expected]):
            reason = _cell_problem(cell, layout, col)
            if reason is not None:
                raise CSVFormatError(path, reason, line=line_no, column=col + 1)
        if len(fields) != expected:
            few_or_many = "too few" if len(fields) < expected else "too many"
            raise CSVFormatError(
                path, f"{few_or_many} fields: {len(fields)}, expected {expected}", line=line_no
            )
        rows.append([int(cell) for cell in fields])
    return np.array(rows, dtype=np.int16)


def _cell_problem(cell: bytes, layout: _Layout, col: int) -> str | None:
    """Why one cell is unusable, or None when it is fine."""
    title = layout.column_title(col)
    text = cell.decode("utf-8", errors="replace").strip()
    if not text:
        return f"empty cell in column {title}"
    if text.isdigit() and text.isascii():
        if cell != cell.strip():
            return f"cell {text!r} in column {title} has surrounding spaces"
        if int(text) > (NUM_CLASSES - 1 if layout.has_label and col == 0 else 255):
            return _range_reason(layout, col, text)
        return None
    try:
        number = float(text)
    except ValueError:
        return f"non-numeric cell {text!r} in column {title}"
    if number.is_integer() and "." not in text and "e" not in text.lower():
        return _range_reason(layout, col, text)  # a signed integer such as -1
    return f"non-integer value {text!r} in column {title}"


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


def read_checksums(sums_file: str | os.PathLike) -> dict[str, str]:
    """The `sha256sum` listing in `sums_file` as {file name: hex digest}."""
    listing: dict[str, str] = {}
    for line in Path(sums_file).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            listing[parts[1].lstrip("*")] = parts[0].lower()
    return listing


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cache_path(path: Path, digest: str) -> Path:
    return path.parent / CACHE_DIR_NAME / f"{path.name}.{digest[:16]}.npz"


def _read_cache(cache_file: Path) -> tuple[np.ndarray, np.ndarray | None] | None:
    try:
        with np.load(cache_file) as stored:
            images = stored["images"]
            labels = stored["labels"] if "labels" in stored.files else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a damaged cache entry is rebuilt, not trusted
    return images, labels


def _write_cache(cache_file: Path, images: np.ndarray, labels: np.ndarray | None) -> None:
    """Store parsed arrays atomically; a read-only data folder just means no cache."""
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
    try:
        cache_file.parent.mkdir(exist_ok=True)
        for stale in cache_file.parent.glob(f"{cache_file.name.rsplit('.', 2)[0]}.*.npz"):
            stale.unlink()
        atomic_write(cache_file, lambda handle: np.savez(handle, **arrays))
    except OSError:
        pass


def atomic_write(target: str | os.PathLike, write, mode: str = "wb") -> None:
    """Call `write(handle)` on a temporary file beside `target`, then rename it into place.

    A crash part-way leaves the old `target` (or none) and no half-written file under its name.
    """
    target = Path(target)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would have
        os.chmod(temp_name, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images as float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Integer labels (N,) as float32 one-hot rows (N, num_classes)."""
    return np.eye(num_classes, dtype=np.float32)[labels]


def stratified_split(
    images: np.ndarray, labels: np.ndarray, val_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split keeping each class's share: (train_x, train_y, val_x, val_y)."""
    from sklearn.model_selection import train_test_split

    if val_size <= 0:
        return images, labels, images[:0], labels[:0]
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=val_size, stratify=labels, random_state=seed
    )
    return train_x, train_y, val_x, val_y


def load_csvs(
    paths: list[str | os.PathLike], *, use_cache: bool = True
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """`load_csv` on several files at once: decompression and the C parser release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(2, len(paths)) or 1) as pool:
        return list(pool.map(lambda p: load_csv(p, use_cache=use_cache), paths))


@dataclass
class Dataset:
    """uint8 images (N, 28, 28) and int labels (N,) of each split; test labels may be None."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray | None
    checksums: dict[str, str]

    def summary(self) -> dict[str, int]:
        return {"train": len(self.train_x), "validation": len(self.val_x), "test": len(self.test_x)}


def check_labels(path: str | os.PathLike, labels: np.ndarray, num_classes: int) -> None:
    """Every label must name one of `num_classes` classes: the first that does not is an error."""
    if labels.size and labels.max() >= num_classes:
        row = int(np.argmax(labels >= num_classes))
        raise CSVFormatError(
            path,
            f"label {labels[row]} in data row {row + 1} has no class name (class_names lists {num_classes})",
            column=1,
        )


def load_dataset(config) -> Dataset:
    """Load the config's train and test CSVs (in parallel), check labels, and split off validation.

    The split is stratified and seeded by `config.seed`; `config.train_limit` and
    `config.test_limit` shrink the sets (stratified for training) for quick runs.
    """
    paths = [Path(config.train_path), Path(config.test_path)]
    (images, labels), (test_x, test_y) = load_csvs(paths)
    if labels is None:
        raise CSVFormatError(paths[0], "the training CSV has no label column")
    check_labels(paths[0], labels, config.num_classes)
    if test_y is not None:
        check_labels(paths[1], test_y, config.num_classes)

    if config.train_limit is not None and config.train_limit + config.val_size < len(images):
        keep = config.train_limit + config.val_size
        images, labels, _, _ = stratified_split(images, labels, len(images) - keep, config.seed)
    train_x, train_y, val_x, val_y = stratified_split(images, labels, config.val_size, config.seed)
    if config.test_limit is not None:
        test_x = test_x[: config.test_limit]
        test_y = None if test_y is None else test_y[: config.test_limit]
    checksums = {p.name: file_sha256(p) for p in paths}
    return Dataset(train_x, train_y, val_x, val_y, test_x, test_y, checksums)
