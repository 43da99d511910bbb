"""The exceptions for files that cannot be used: one base, `InputFileError`, which the CLI reports as
one line, `"{path}{where}: {reason}"`, and exits with status 2.

- `CSVFormatError`: a CSV that fails validation (with the line and column where they apply);
- `ImageReadError`: an image that cannot be read or holds no digit;
- `ModelFileError`: a model file that is missing, malformed or not a Keras model;
- `LimitError`: a file that is over one of the caps in `mnist_cnn.io.limits` (which cap, how large the
  file was, and how to raise the cap);
- `DiskFullError`: a file that could not be written for want of space (an `OSError`, errno ENOSPC);
- `OutputPermissionError`: a file that may not be written or replaced (a `PermissionError`, so code
  that handles OS errors handles it; it names the target, never a temporary file).

This module imports nothing from the package, so every layer can raise these.
"""

from __future__ import annotations

import os


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


class ImageReadError(InputFileError):
    """An image that cannot be used, with its path and the reason."""


class ModelFileError(InputFileError):
    """A model file that is missing or is not a Keras model, with its path and the reason."""


class LimitError(InputFileError):
    """A file over one of the caps of `mnist_cnn.io.limits.Limits`.

    `limit` is the cap's field name, `cap` its value, and `value` what the file had (None where the
    work stopped at the cap, so only "more than `cap`" is known).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        reason: str,
        where: str = "",
        *,
        limit: str = "",
        cap: int | None = None,
        value: int | None = None,
    ) -> None:
        self.limit = limit
        self.cap = cap
        self.value = value
        super().__init__(path, reason, where)


class OutputPermissionError(PermissionError):
    """A target that may not be written: prints as `"{target}: {reason}"`, like `InputFileError`."""

    def __init__(self, target: str | os.PathLike, reason: str) -> None:
        super().__init__(13, reason, str(target))  # 13 is EACCES, as the OS would report it

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class DiskFullError(OSError):
    """A target that could not be written for want of space: prints as `"{target}: {reason}"`, naming
    the target (never a temporary), what was written before the disk filled and what is free."""

    def __init__(self, target: str | os.PathLike, reason: str) -> None:
        super().__init__(28, reason, str(target))  # 28 is ENOSPC, as the OS would report it

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"
