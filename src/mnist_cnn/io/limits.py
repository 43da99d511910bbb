"""Every cap on what an untrusted file may make the program read, inflate or decode.

Each is checked before the work it bounds and, where a header can lie, during it. `LimitError` names the cap
and how to raise it (`mnist-cnn --limit csv_text_bytes=2GiB`)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from mnist_cnn.io.errors import LimitError

KiB, MiB, GiB = 2**10, 2**20, 2**30

# a SHA256SUMS listing beside the data: a line per file, so 1 MiB is thousands of files; not a field
# of Limits because no real listing comes near it
CHECKSUMS_MAX_BYTES = 1 * MiB
# a zip member that inflates to less than this cannot exhaust anything, whatever its ratio: a tiny
# config.json of spaces may well compress 500-fold
RATIO_FLOOR_BYTES = 1 * MiB


def _cap(default: int, unit: str, doc: str) -> Any:
    return field(default=default, metadata={"unit": unit, "doc": doc})


@dataclass(frozen=True)
class Limits:
    """The caps; every field is a positive integer, in the unit its metadata names."""

    csv_file_bytes: int = _cap(
        512 * MiB, "bytes",
        "a CSV file on disk (.csv, .csv.gz or .zip), checked with stat before it is read: the file is "
        "read whole, so this bounds that read; 4.6x the plain MNIST training CSV (110 MB)",
    )
    csv_text_bytes: int = _cap(
        512 * MiB, "bytes",
        "a CSV's text after decompression, enforced while inflating (a gzip of 2 MB can inflate to "
        "2 GiB); parsing holds about twice the text, so this keeps a load near 1 GiB at most, refuses "
        "a 1 GiB gzip of valid rows and passes MNIST's 110 MB with room to spare",
    )
    csv_rows: int = _cap(
        500_000, "count",
        "data rows of a CSV (8x MNIST's 60,000 training rows); bounds the parsed arrays (785 bytes a "
        "row) whatever the text, and is what a cached parse is held to",
    )
    image_file_bytes: int = _cap(
        64 * MiB, "bytes",
        "an image file, checked with stat before it is read whole: a 50 MP phone JPEG is 10-25 MB, "
        "a 20 MP uncompressed TIFF 60 MB",
    )
    image_pixels: int = _cap(
        64_000_000, "pixels",
        "an image's width x height, read from its header before any pixel is decoded (a 109 KB PNG "
        "can declare 900 megapixels): 64 MP admits 48-50 MP phone photos; decoding one takes about "
        "1 GB at this size (grayscale as float32 and its working copies)",
    )
    model_file_bytes: int = _cap(
        256 * MiB, "bytes",
        "a .keras or .h5 model file on disk; this project's model is 2.5 MB, large CNNs ~100 MB",
    )
    model_archive_bytes: int = _cap(
        512 * MiB, "bytes",
        "the uncompressed size a .keras archive's members declare, in total, checked before Keras "
        "opens it (Keras inflates the weights member in memory); Keras stores members uncompressed, "
        "so this is about the file size; twice model_file_bytes leaves room for re-zipped archives",
    )
    archive_members: int = _cap(
        1000, "count",
        "members of a .zip (a zipped CSV or a .keras model), read from the end-of-directory record "
        "before the directory is parsed (Python's zipfile builds an object per member, so a 256 MB "
        "archive of empty members could take gigabytes); Keras writes 3 members plus any assets",
    )
    archive_ratio: int = _cap(
        100, "ratio",
        "how many times its stored size a .keras member may declare uncompressed, for members over "
        "1 MiB: Keras stores members uncompressed (ratio 1) and deflated weights shrink by a few "
        "percent, where a bomb's ratio is around 1000",
    )

    def __post_init__(self) -> None:
        for cap in dataclasses.fields(self):
            value = getattr(self, cap.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {cap.name} must be a positive integer, not {value!r}")

    def with_overrides(self, overrides: Iterable[str]) -> Limits:
        """These limits with `NAME=VALUE` overrides (`parse_quantity`'s syntax); `ValueError` if unusable."""
        names = {cap.name for cap in dataclasses.fields(self)}
        changes: dict[str, int] = {}
        for item in overrides:
            name, sep, value = str(item).partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"limit {item!r}: expected NAME=VALUE, e.g. csv_text_bytes=2GiB")
            if name not in names:
                raise ValueError(f"unknown limit {name!r}; the limits are: {', '.join(sorted(names))}")
            try:
                changes[name] = parse_quantity(value)
            except ValueError as err:
                raise ValueError(f"limit {name}: {err}") from None
        return dataclasses.replace(self, **changes)

    def exceeded(self, name: str, path: str | os.PathLike, found: str, *, value: int | None = None,
                 also: Iterable[str] = ()) -> LimitError:
        """The `LimitError` for `path` over cap `name`; `found` says what it had, `also` caps met next."""
        cap = getattr(self, name)
        also = [n for n in also if value is None or value > getattr(self, n)]
        suggestion = " ".join(
            f"--limit {n}={_suggest(getattr(self, n), value, _unit(n))}" for n in (name, *also)
        )
        reason = (
            f"{found}, over the {name} cap ({format_quantity(cap, _unit(name))}); raise it with "
            f"`mnist-cnn {suggestion} ...` or, in Python, limits=Limits({name}=...)"
        )
        return LimitError(path, reason, limit=name, cap=cap, value=value)

    def check(self, name: str, value: int, path: str | os.PathLike, found: str) -> None:
        """Raise `exceeded(...)` when `value` is over cap `name`; `found` may use `{value}`."""
        if value > getattr(self, name):
            raise self.exceeded(name, path, found.format(value=format_quantity(value, _unit(name))),
                                value=value)


DEFAULT_LIMITS = Limits()

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": KiB, "mib": MiB, "gib": GiB, "tib": 2**40,
}
_BINARY = (("GiB", GiB), ("MiB", MiB), ("KiB", KiB))
_QUANTITY = re.compile(r"\s*([0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*")


def parse_quantity(text: str) -> int:
    """`"2GiB"`, `"500MB"`, `"1e8"` or `"1_000"` as a positive integer; `ValueError` otherwise."""
    match = _QUANTITY.fullmatch(text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"{text!r} is not a size or count: write e.g. 2GiB, 500MB, 64M, 1e8 or 1000 "
            "(K/M/G/T are powers of 1000, KiB/MiB/GiB/TiB powers of 1024)"
        )
    amount = Fraction(match.group(1).replace("_", "")) * _UNITS[match.group(2).lower()]
    if amount.denominator != 1 or amount < 1:
        raise ValueError(f"{text!r} must come to a whole number of at least 1")
    return int(amount)


def format_quantity(value: int, unit: str) -> str:
    """`value` for people: `"512 MiB"`, `"144.0 megapixels"`, `"1,000"`."""
    if unit == "bytes":
        for suffix, size in _BINARY:
            if value >= size:
                return f"{value / size:.1f} {suffix}".replace(".0 ", " ")
        return f"{value:,} bytes"
    if unit == "pixels":
        return f"{value / 1e6:.1f} megapixels"
    return f"{value:,}"


def _unit(name: str) -> str:
    return Limits.__dataclass_fields__[name].metadata["unit"]


def _suggest(cap: int, value: int | None, unit: str) -> str:
    """A round new cap that `parse_quantity` reads: the cap doubled until `value` fits."""
    new = cap * 2
    while value is not None and new < value:
        new *= 2
    steps = _BINARY if unit == "bytes" else (("G", 10**9), ("M", 10**6), ("K", 10**3))
    return next((f"{new // size}{suffix}" for suffix, size in steps if new % size == 0), str(new))
