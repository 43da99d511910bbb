"""Model files checked before Keras opens them: Keras inflates .keras members in memory unchecked."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from mnist_cnn.io.errors import InputFileError, ModelFileError
from mnist_cnn.io.files import check_regular_file, open_nonblocking
from mnist_cnn.io.inflate import check_zip_directory
from mnist_cnn.io.limits import DEFAULT_LIMITS, RATIO_FLOOR_BYTES, Limits, format_quantity

MODEL_SUFFIXES = (".keras", ".h5")
# what Keras 3 writes into a .keras archive (saving_lib: config, metadata, weights in one of two
# stores) and the folder of layer assets (vocabularies and the like) it may add
KERAS_REQUIRED = ("config.json", "metadata.json")
KERAS_WEIGHTS = ("model.weights.h5", "model.weights.npz")
KERAS_ASSETS = "assets/"


def check_model_archive(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse a model file that is irregular, too large, or an unsafe .keras archive.

    A .keras zip may hold only Keras' members, with safe unique names, within the archive caps. Nothing is
    inflated. Raises `ModelFileError` or `LimitError`."""
    path = Path(path)
    check_regular_file(path, "model_file_bytes", "a model file", limits=limits, error=ModelFileError)
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelFileError(path, "not a model file: expected a .keras or .h5 file")
    if path.suffix == ".h5":
        return
    try:
        with open_nonblocking(path) as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped since the check above
                raise ModelFileError(path, "is no longer a regular file")
            check_zip_directory(handle, path, limits)
            with zipfile.ZipFile(handle) as archive:
                members = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        if isinstance(err, InputFileError):  # ours (a LimitError from the directory check), as it is
            raise
        reason = "not a Keras model file (a .keras file is a zip archive; this is not)"
        raise ModelFileError(path, reason) from None
    except OSError as err:
        raise ModelFileError(path, f"cannot be read ({err.strerror or err})") from None
    limits.check("archive_members", len(members), path, "holds {value} members")
    _check_names(path, [member.filename for member in members])
    total = sum(member.file_size for member in members)
    limits.check("model_archive_bytes", total, path, "declares {value} uncompressed")
    for member in members:
        stored = max(1, member.compress_size)
        if member.file_size > RATIO_FLOOR_BYTES and member.file_size > limits.archive_ratio * stored:
            ratio = member.file_size // stored
            found = (f"has member {member.filename} declaring {format_quantity(member.file_size, 'bytes')} "
                     f"from {format_quantity(member.compress_size, 'bytes')} stored ({ratio:,} times)")
            raise limits.exceeded("archive_ratio", path, found, value=ratio)


def _check_names(path: Path, names: list[str]) -> None:
    """Safe names, no duplicates, Keras' members and no others."""
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts or "\x00" in name:
            raise ModelFileError(path, f"has a member with an unsafe name, {name!r} (absolute or with '..')")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ModelFileError(path, f"has two members named {name!r}")
        seen.add(name)
    missing = [name for name in KERAS_REQUIRED if name not in seen]
    weights = [name for name in KERAS_WEIGHTS if name in seen]
    if missing or len(weights) != 1:
        lacking = missing + ([] if weights else [" or ".join(KERAS_WEIGHTS)])
        what = f"lacks {', '.join(lacking)}" if lacking else f"holds both {' and '.join(weights)}"
        raise ModelFileError(path, f"not a Keras model file (the archive {what})")
    for name in names:
        if name not in KERAS_REQUIRED + KERAS_WEIGHTS and not name.startswith(KERAS_ASSETS):
            reason = f"not a Keras model file (it holds {name!r}, which Keras does not write)"
            raise ModelFileError(path, reason)
