"""The exceptions for unusable input files and unwritable outputs; the package's lowest layer.

The CLI prints an `InputFileError` as one line, `"{path}{where}: {reason}"`, and exits with status 2.
`DiskFullError` and `OutputPermissionError` are `OSError`s naming the target, never a temporary."""

from __future__ import annotations

import os


class InputFileError(ValueError):
    """A file that cannot be used: its path, where in it, and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str, where: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}{where}: {reason}")


class CSVFormatError(InputFileError):
    """A CSV that cannot be used: the file, the line and column where they apply, and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None,
                 column: int | None = None) -> None:
        self.line, self.column = line, column
        where = f": line {line}" if line is not None else ""
        where += f", column {column}" if column is not None else ""
        super().__init__(path, reason, where)


class ImageReadError(InputFileError):
    """An image that cannot be used, with its path and the reason."""


class ModelFileError(InputFileError):
    """A model file that is missing or not a Keras model, with its path and the reason."""


class LimitError(InputFileError):
    """A file over cap `limit` (value `cap`); `value` is what it had, None where work stopped at the cap."""

    def __init__(self, path: str | os.PathLike, reason: str, where: str = "", *, limit: str = "",
                 cap: int | None = None, value: int | None = None) -> None:
        self.limit, self.cap, self.value = limit, cap, value
        super().__init__(path, reason, where)


class OutputPermissionError(PermissionError):
    """A target that may not be written: prints as `"{target}: {reason}"`, like `InputFileError`."""

    def __init__(self, target: str | os.PathLike, reason: str) -> None:
        super().__init__(13, reason, str(target))  # 13 is EACCES, as the OS would report it

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class DiskFullError(OSError):
    """A target not written for want of space: what was written before the disk filled and what is free."""

    def __init__(self, target: str | os.PathLike, reason: str) -> None:
        super().__init__(28, reason, str(target))  # 28 is ENOSPC, as the OS would report it

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"
