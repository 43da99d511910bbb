"""The MNIST CSV format: read the first line's layout, parse the rest fast or carefully, check every value.

A fast path (the C scanner `_fastcsv`, else `np.fromstring`) refuses anything unusual; a careful parser then
raises `CSVFormatError` naming file, line, column and reason. Rows are capped before allocating."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from mnist_cnn.constants import IMAGE_SIDE, NUM_CLASSES, NUM_PIXELS
from mnist_cnn.io.errors import CSVFormatError
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits

try:  # the optional C accelerator built by setup.py; the NumPy parser below stands in without it
    from mnist_cnn.data import _fastcsv
except ImportError:  # pragma: no cover - depends on how the package was installed
    _fastcsv = None

_ROW_END = b",-1,"  # marker that replaces each newline; no valid cell can be negative
_DIGITS_AND_SEPARATORS = b"0123456789,\n"


def parse_csv_bytes(text: bytes | bytearray, path: str | os.PathLike = "<bytes>", *,
                    limits: Limits = DEFAULT_LIMITS) -> tuple[np.ndarray, np.ndarray | None]:
    """Parse an MNIST-style CSV's decompressed bytes; `path` names it in errors.

    Raises `CSVFormatError` for a bad header, row or cell, `LimitError` over `limits.csv_rows`."""
    text, first_end = normalise(text, path)
    first_line = text if first_end < 0 else text[:first_end]
    layout = read_layout(first_line, path)
    if layout.column_names is not None:
        body_start, first_body_line = (len(text) if first_end < 0 else first_end + 1), 2
    else:
        body_start, first_body_line = 0, 1
    body_end = len(text)
    while body_end > body_start and text[body_end - 1] == 0x0A:  # trailing blank lines are fine
        body_end -= 1
    if body_end == body_start:
        raise CSVFormatError(path, "has a header but no data rows", line=2)
    # counted before parsing, so the row cap bounds what the parsers allocate
    rows = text.count(b"\n", body_start, body_end) + 1
    limits.check("csv_rows", rows, path, "has {value} data rows")

    # a view, not a copy: the body of the training set is 110 MB
    body = memoryview(text)[body_start:body_end]
    fields = layout.num_fields
    values = _parse_body_c(body, fields) if _fastcsv else _parse_body_numpy(body.tobytes(), fields)
    if values is None:  # something unusual: the careful parser finds and names it
        values = _parse_body_slow(text, (body_start, body_end), rows, layout, path, first_body_line)
    _check_ranges(values, layout, path, first_body_line)

    pixels = values[:, int(layout.has_label) :]
    images = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    labels = values[:, 0].astype(np.int64) if layout.has_label else None
    return images, labels


@dataclass(frozen=True)
class Layout:
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


def normalise(text: bytes | bytearray, path: str | os.PathLike) -> tuple[bytes | bytearray, int]:
    """The text without a byte-order mark or carriage returns, and where its first line ends."""
    _reject_non_text(text, path)
    if text.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as Excel writes
        text = text[3:]
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    if re.search(rb"\S", text) is None:
        raise CSVFormatError(path, "file is empty")
    return text, text.find(b"\n")


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
        raise CSVFormatError(path, "is an HTML/XML page, not a CSV (a download that returned a web page?)")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) >= 4 and b"\x00" not in head[0::2]
                                                        and head[1::2].count(0) > len(head) // 4):
        raise CSVFormatError(
            path, "is UTF-16 text, not UTF-8: save it as UTF-8 (Excel: 'CSV UTF-8'; pandas: "
            "pd.read_csv(path, encoding='utf-16').to_csv(new_path, index=False))",
        )
    if b"\x00" in head:
        raise CSVFormatError(path, "is binary data, not a text CSV")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        # a multi-byte character cut by the 4096-byte window is not binary data
        if err.start < len(head) - 4:
            raise CSVFormatError(path, "is binary data, not a text CSV") from None


def _layout_hint(first_line: bytes, names: tuple[str, ...]) -> str | None:
    """What a header of the wrong width probably is, and how to convert it; None if nothing fits."""
    for separator, name in ((b";", "semicolons"), (b"\t", "tabs")):
        if first_line.count(separator) >= NUM_PIXELS - 1:
            sep = separator.decode().replace("\t", "\\t")
            return (f"the fields are separated by {name}, not commas: convert it with "
                    f"pd.read_csv(path, sep='{sep}').to_csv(new_path, index=False)")
    first = names[0].lower()
    if len(names) in (NUM_PIXELS + 1, NUM_PIXELS + 2) and (first == "" or first.startswith("unnamed")):
        return ("the first column is a pandas index (saved without index=False): drop it with "
                "pd.read_csv(path, index_col=0).to_csv(new_path, index=False)")
    return None


def read_layout(first_line: bytes, path: str | os.PathLike) -> Layout:
    fields = first_line.split(b",")
    if first_line.translate(None, b"0123456789,") == b"":
        # all numeric: no header row; the field count says whether a label leads
        if len(fields) in (NUM_PIXELS, NUM_PIXELS + 1):
            return Layout(has_label=len(fields) == NUM_PIXELS + 1, column_names=None)
        raise CSVFormatError(path, f"has {len(fields)} fields; expected {NUM_PIXELS + 1} (label + "
                             f"{NUM_PIXELS} pixels) or {NUM_PIXELS} (pixels only)", line=1)
    try:
        names = tuple(f.decode("utf-8").strip().strip('"').strip() for f in fields)
    except UnicodeDecodeError:
        raise CSVFormatError(path, "header is not UTF-8 text", line=1) from None
    has_label = names[0].lower() == "label"
    expected = NUM_PIXELS + int(has_label)
    if len(names) != expected:
        hint = _layout_hint(first_line, names)
        if hint:
            raise CSVFormatError(path, f"header has {len(names)} columns; {hint}", line=1)
        what = (f"a 'label' column and {NUM_PIXELS} pixel columns" if has_label
                else f"{NUM_PIXELS} pixel columns (or 'label' first and {NUM_PIXELS} pixels)")
        raise CSVFormatError(path, f"header has {len(names)} columns; expected {expected}: {what}", line=1)
    if "label" in (n.lower() for n in names[1:]):
        raise CSVFormatError(path, "header has a 'label' column that is not the first", line=1)
    return Layout(has_label=has_label, column_names=names)


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


def _check_ranges(values: np.ndarray, layout: Layout, path: str | os.PathLike, first_body_line: int) -> None:
    """Raise for the first label outside 0-9 or pixel outside 0-255, in file order."""
    label_max = NUM_CLASSES - 1
    if values.max() <= 255 and not (layout.has_label and values[:, 0].max() > label_max):
        return
    limits = np.full(values.shape[1], 255, dtype=np.int16)
    if layout.has_label:
        limits[0] = label_max
    bad = values > limits
    row, col = np.unravel_index(np.argmax(bad), bad.shape)
    raise CSVFormatError(path, _range_reason(layout, int(col), str(values[row, col])),
                         line=first_body_line + int(row), column=int(col) + 1)


def _range_reason(layout: Layout, col: int, text: str) -> str:
    if layout.has_label and col == 0:
        return f"label {text} is outside 0-9"
    return f"pixel value {text} in column {layout.column_title(col)} is outside 0-255"


def _parse_body_slow(text: bytes | bytearray, span: tuple[int, int], rows: int, layout: Layout,
                     path: str | os.PathLike, first_body_line: int) -> np.ndarray:
    """Parse line by line into a preallocated int16 table, raising for the first bad line."""
    expected = layout.num_fields
    values = np.empty((rows, expected), dtype=np.int16)
    start, end = span
    for offset in range(rows):
        line_no = first_body_line + offset
        stop = text.find(b"\n", start, end)
        stop = end if stop < 0 else stop
        line, start = bytes(text[start:stop]), stop + 1
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
        values[offset] = [int(cell) for cell in fields]
    return values


def _cell_problem(cell: bytes, layout: Layout, col: int) -> str | None:
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
    if 0.0 <= number <= 1.0 and not (layout.has_label and col == 0):
        return (f"non-integer value {text!r} in column {title}: the pixels look scaled to 0-1, and this "
                "format holds whole numbers 0-255 (multiply by 255 and round before saving)")
    return f"non-integer value {text!r} in column {title}"


