"""One run per directory: the lock refuses a second holder at once, names it, and dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mnist_cnn.io.errors import InputFileError
from mnist_cnn.io.locks import LOCK_NAME, DirectoryBusyError, directory_lock

HOLDER = textwrap.dedent("""
    import sys, time
    from mnist_cnn.io.locks import directory_lock
    with directory_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
""")


def hold_in_another_process(folder) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_process_is_refused_with_the_holders_pid_until_the_holder_dies(tmp_path):
    folder = tmp_path / "run"
    holder = hold_in_another_process(folder)
    try:
        with pytest.raises(DirectoryBusyError) as refused, directory_lock(folder):
            pytest.fail("entered a held directory")
        message = str(refused.value)
        assert str(folder) in message and f"PID {holder.pid}" in message
        assert "another mnist-cnn run" in message
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up of its own: the OS drops the lock
        holder.wait()
    with directory_lock(folder):
        assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path):
    with directory_lock(tmp_path), directory_lock(tmp_path):
        pass
    holder = hold_in_another_process(tmp_path)  # released: another process can take it
    holder.kill()
    holder.wait()


def test_a_file_where_a_directory_belongs_is_one_clear_error(tmp_path):
    target = tmp_path / "run"
    target.write_text("mine")
    started = time.perf_counter()
    with pytest.raises(InputFileError, match="is a file, not a directory"), directory_lock(target):
        pass
    assert target.read_text() == "mine" and time.perf_counter() - started < 1


def test_a_folder_the_lock_made_is_removed_if_nothing_was_written_in_it(tmp_path):
    made, used = tmp_path / "made" / "models", tmp_path / "used"
    with directory_lock(made):
        assert made.is_dir()
    assert not made.exists() and (tmp_path / "made").is_dir()  # only the folder the lock itself made
    with directory_lock(used):
        (used / "metrics.json").write_text("{}")
    assert sorted(p.name for p in used.iterdir()) == [LOCK_NAME, "metrics.json"]
