"""The MNIST CSV format: parse a CSV's text fast or carefully, and check every value.

A fast path (the C scanner `_fastcsv`, else `np.fromstring`) refuses anything unusual; a careful parser then
raises `CSVFormatError` naming file, line, column and reason. Rows are capped before allocating."""

from __future__ import annotations

import os

import numpy as np

from mnist_cnn.constants import IMAGE_SIDE, NUM_CLASSES
from mnist_cnn.data.csv_layout import Layout, normalise, read_layout
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


