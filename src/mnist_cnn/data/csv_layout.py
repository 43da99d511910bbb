"""What an MNIST-style CSV's first line says: header or data, a label column or not, text at all."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mnist_cnn.constants import NUM_PIXELS
from mnist_cnn.io.errors import CSVFormatError


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
