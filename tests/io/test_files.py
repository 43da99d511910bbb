"""Writing files: a full disk is one line that names the target, with what was written and what is free."""

from __future__ import annotations

import errno

import pytest

from mnist_cnn.io.errors import DiskFullError
from mnist_cnn.io.files import atomic_write


def test_a_full_disk_names_the_target_not_a_temporary_and_leaves_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def fill_then_fail(handle):
        handle.write(b"x" * 3000)
        handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError) as caught:
        atomic_write(target, fill_then_fail)
    message = str(caught.value)
    assert message.startswith(f"{target}: no space left on the device: 2.9 KiB written before it filled")
    assert f"free in {tmp_path}/ now" in message and "\n" not in message
    assert caught.value.errno == errno.ENOSPC
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"] and target.read_text() == "old"


def test_a_writer_that_wraps_enospc_in_its_own_error_is_recognised(tmp_path):
    def h5py_like(handle):
        raise RuntimeError("Unable to synchronously write data (file write failed: ... errno = 28, "
                           "error message = 'No space left on device')")

    with pytest.raises(DiskFullError, match=r"model\.h5: no space left on the device"):
        atomic_write(tmp_path / "model.h5", h5py_like)
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_unchanged(tmp_path):
    def broken(handle):
        raise ValueError("a bug, not the disk")

    with pytest.raises(ValueError, match="a bug"):
        atomic_write(tmp_path / "x.json", broken)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_write_are_removed_and_nothing_else(tmp_path):
    from mnist_cnn.io.files import remove_stale_temporaries

    target = tmp_path / "mnist_cnn.keras"
    target.write_text("the model")
    stale = [tmp_path / ".mnist_cnn.keras.x1y2.keras", tmp_path / ".mnist_cnn.keras.abc.keras"]
    for path in stale:
        path.write_text("half")
    kept = [tmp_path / ".mnist_cnn.h5.q.h5", tmp_path / "mnist_cnn.keras.bak", tmp_path / ".mnist-cnn.lock"]
    for path in kept:
        path.write_text("other")
    assert sorted(remove_stale_temporaries(target)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, *(p.name for p in kept)])
