"""Capped decompression: inflate a chunk at a time and stop at a cap, whatever headers claim.

`check_zip_directory` counts members from the end record before zipfile builds an object for each."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from typing import IO

from mnist_cnn.io.limits import DEFAULT_LIMITS, KiB, Limits, MiB, format_quantity

CHUNK = 4 * MiB  # output made at a time: large enough for speed, small next to any cap
INPUT_BLOCK = 64 * KiB  # compressed bytes handed to zlib at a time
# a zip's central directory takes 46 bytes an entry plus its name and extra fields; 1 KiB an entry
# leaves long names room while a directory of millions of empty entries stays refused
ZIP_DIRECTORY_BYTES_PER_MEMBER = 1 * KiB


class TooLargeError(Exception):
    """Inflating went past the size it was allowed; the caller names the cap that set it."""


def gunzip(data: bytes | memoryview, max_size: int) -> bytearray:
    """Inflate gzip data (concatenated members too) to at most `max_size` bytes, or `TooLargeError`."""
    view, out = memoryview(data), bytearray()
    if not view:
        raise ValueError("no data")
    while view:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        end = 0
        # small input blocks: zlib copies the unconsumed rest of its input on every call, and a block
        # of a bomb yields a thousand output chunks
        for start in range(0, len(view), INPUT_BLOCK):
            block = view[start : start + INPUT_BLOCK]
            pending: bytes | memoryview = block
            while pending and not inflater.eof:
                try:
                    out += inflater.decompress(pending, max_length=min(CHUNK, max_size - len(out) + 1))
                except zlib.error as err:
                    raise ValueError(str(err)) from None
                if len(out) > max_size:
                    raise TooLargeError(max_size)
                pending = inflater.unconsumed_tail
            if inflater.eof:
                end = start + len(block) - len(inflater.unused_data)
                break
        if not inflater.eof:
            raise ValueError("the compressed data ends early (a truncated download?)")
        view = view[end + _zero_run(view[end:]) :]
        # gzip allows zero padding after a member, as gzip(1) and Python's gzip module do
        if view and view[:2] != b"\x1f\x8b":
            raise ValueError("trailing data after the gzip stream is not gzip")
    return out


def _zero_run(view: memoryview) -> int:
    """How many zero bytes `view` starts with, a block at a time."""
    for start in range(0, len(view), INPUT_BLOCK):
        block = bytes(view[start : start + INPUT_BLOCK])
        if rest := block.lstrip(b"\x00"):
            return start + len(block) - len(rest)
    return len(view)


def read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_size: int) -> bytearray:
    """A zip member's bytes, at most `max_size`, read a chunk at a time since the header can lie."""
    if info.file_size > max_size:
        raise TooLargeError(max_size)
    out = bytearray()
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(CHUNK, max_size - len(out) + 1)):
                out += chunk
                if len(out) > max_size:
                    raise TooLargeError(max_size)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
        raise ValueError(str(err) or type(err).__name__) from None
    return out


def check_zip_directory(handle: IO[bytes], path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a zip with more than `limits.archive_members` entries, from its end record alone."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - (22 + 65535)))  # the end record (22 bytes) and its longest comment
    tail = handle.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return
    entries, directory_bytes = struct.unpack("<HI", tail[at + 10 : at + 16])
    locator = tail[at - 20 : at] if at >= 20 else b""
    if locator[:4] == b"PK\x06\x07":  # zip64: the real counts are in a record the locator points to
        (record_at,) = struct.unpack("<Q", locator[8:16])
        handle.seek(record_at)
        record = handle.read(56)
        if len(record) == 56 and record[:4] == b"PK\x06\x06":
            entries, directory_bytes = struct.unpack("<QQ", record[32:48])
    limits.check("archive_members", entries, path, "holds {value} members")
    if directory_bytes > limits.archive_members * ZIP_DIRECTORY_BYTES_PER_MEMBER:
        raise limits.exceeded(
            "archive_members", path,
            f"has a {format_quantity(directory_bytes, 'bytes')} directory, more than "
            f"{ZIP_DIRECTORY_BYTES_PER_MEMBER:,} bytes for each of the members the cap allows",
        )
