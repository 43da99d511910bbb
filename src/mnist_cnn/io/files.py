"""Bounded reads of untrusted files, atomic writes and digests.

Only regular files are read, judged by `stat` before opening (a pipe or /dev/zero would hang). Writes go to a
temporary beside the target, then one rename: a crash leaves the old file or none."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, Any

from mnist_cnn.io.errors import DiskFullError, InputFileError, OutputPermissionError
from mnist_cnn.io.limits import CHECKSUMS_MAX_BYTES, DEFAULT_LIMITS, GiB, Limits, MiB, format_quantity

CHUNK = 4 * MiB  # what is hashed at a time
# the (temporary, target) pairs whose renames an open `switch_over` holds back; None when none is open
PENDING: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar(
    "mnist_cnn_switch", default=None
)

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular_file(path: str | os.PathLike, cap: str | int, what: str, *, limits: Limits = DEFAULT_LIMITS,
                       error: type[InputFileError] = InputFileError,
                       also: tuple[str, ...] = ()) -> os.stat_result:
    """`stat` of `path` if a regular file within `cap`; else `error` or `LimitError`, naming `what`."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(path, "file not found") from None
    except OSError as err:
        raise error(path, f"cannot be read ({err.strerror or err})") from None
    _check_kind(path, info, what, error)
    if isinstance(cap, int):
        if info.st_size > cap:
            raise error(path, f"is {_size(info.st_size)}, more than {what} can be ({_size(cap)})")
    elif info.st_size > getattr(limits, cap):
        raise limits.exceeded(cap, path, f"is {_size(info.st_size)}", value=info.st_size, also=also)
    return info


def read_regular_file(path: str | os.PathLike, cap: str | int, what: str, *, limits: Limits = DEFAULT_LIMITS,
                      error: type[InputFileError] = InputFileError, also: tuple[str, ...] = ()) -> bytes:
    """Read a regular file within `cap` in one bounded read, rechecked through its descriptor."""
    size = check_regular_file(path, cap, what, limits=limits, error=error, also=also).st_size
    parts, wanted = [], size + 1  # one byte more than stat said, to notice growth
    try:
        with open_nonblocking(path) as handle:
            _check_kind(path, os.fstat(handle.fileno()), what, error)
            # a loop: Linux returns at most 2 GiB from one read, and a cap may be raised past that
            while wanted > 0 and (part := handle.read(min(wanted, GiB))):
                parts.append(part)
                wanted -= len(part)
    except OSError as err:
        raise error(path, f"cannot be read ({err.strerror or err})") from None
    data = b"".join(parts)  # the one part itself, uncopied, for any file under 1 GiB
    if len(data) != size:
        raise error(path, "changed size while it was read (is it still being written?)")
    return data


def open_nonblocking(path: str | os.PathLike) -> IO[bytes]:
    """Open unbuffered and non-blocking: a pipe swapped in after the check cannot hang the read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(fd, "rb", buffering=0)


def _check_kind(path: str | os.PathLike, info: os.stat_result, what: str, error: type) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise error(path, f"is a directory, not {what}")
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
    raise error(path, f"is {kind}, not {what}; only regular files are read")


def _size(value: int) -> str:
    return format_quantity(value, "bytes")


# -- writing -----------------------------------------------------------------------------------------


def check_writable_target(target: str | os.PathLike) -> None:
    """Refuse to replace an existing read-only file, judged by mode bits as well as `os.access`."""
    try:
        info = os.stat(target)
    except OSError:
        return  # absent (or unreachable, which writing will report)
    if stat.S_ISREG(info.st_mode) and (not info.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise OutputPermissionError(
            target, "is read-only; refusing to replace it (make it writable, or write elsewhere)"
        )


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; after the block, fsync and rename it onto `target`.

    The temporary keeps the target's endings (Keras insists on ".weights.h5"); errors name the target."""
    target = Path(target)
    check_writable_target(target)
    folder = target.parent
    try:
        ending = "".join(target.suffixes)
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=ending)
    except PermissionError:
        raise OutputPermissionError(
            target, f"cannot be written: no permission to create files in {folder}/"
        ) from None
    os.close(fd)
    temp = Path(temp_name)
    try:
        yield temp
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would have
        os.chmod(temp, target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask())
        pending = PENDING.get()
        if pending is None:
            os.replace(temp, target)
        else:  # the switch-over renames its whole set at once
            pending.append((temp, target))
    except PermissionError as err:
        temp.unlink(missing_ok=True)
        raise OutputPermissionError(target, f"cannot be written ({err.strerror or err})") from None
    except Exception as err:
        full = disk_full_error(err, target, temp)
        temp.unlink(missing_ok=True)
        if full is None:
            raise
        raise full from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def atomic_write(target: str | os.PathLike, write: Callable[[IO[Any]], Any], mode: str = "wb") -> None:
    """Call `write(handle)` on a temporary beside `target`, then rename it into place."""
    with atomic_path(target) as temp, open(temp, mode) as handle:
        write(handle)


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Delete temporaries a killed writer left beside `target`; only under the folder's lock."""
    target = Path(target)
    removed = []
    for stale in target.parent.glob(f".{glob_escape(target.name)}.*"):
        if stale.is_file() and not stale.is_symlink():
            stale.unlink()
            removed.append(stale)
    return removed


def disk_full_error(err: BaseException, target: Path, partial: Path) -> DiskFullError | None:
    """`err` as a `DiskFullError` naming `target` if the disk filled while writing `partial`, else None."""
    folder = target.parent
    # ENOSPC or a quota, as the OS reports it or h5py wraps it
    full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    if not (full or "No space left on device" in str(err) or "Disk quota exceeded" in str(err)
            or _nearly_full(folder)):
        return None
    written = partial.stat().st_size if partial.exists() else 0
    partial.unlink(missing_ok=True)  # its bytes are what the message says is free again
    free = shutil.disk_usage(folder).free
    before, now = format_quantity(written, "bytes"), format_quantity(free, "bytes")
    return DiskFullError(target, f"no space left on the device: {before} written before it filled and {now} "
                                 f"free in {folder}/ now; free space there and run again")


def _nearly_full(folder: Path) -> bool:
    """Under 1 MiB left on `folder`'s device: h5py may report a full disk as "Slist already enabled?"."""
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bfree * info.f_frsize < MiB


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- digests -----------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read a chunk at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(sums_file: str | os.PathLike) -> dict[str, str]:
    """The `sha256sum` listing in `sums_file` as {file name: hex digest}; `InputFileError` if unusable."""
    listing: dict[str, str] = {}
    text = read_regular_file(sums_file, CHECKSUMS_MAX_BYTES, "a checksum list").decode("utf-8", "replace")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            listing[parts[1].lstrip("*")] = parts[0].lower()
    return listing
