"""A set of files switches over together: all old or all new, through kills between any two renames."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_cnn.io.errors import InputFileError
from mnist_cnn.io.files import atomic_write, remove_stale_temporaries
from mnist_cnn.io.switch import JOURNAL_NAME, finish_switch_over, switch_over

NAMES = ("model.keras", "history.csv", "metrics.json")


def _old_set(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name in NAMES:
        (folder / name).write_text(f"old {name}")


def _contents(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def test_the_files_change_together_when_the_block_ends(tmp_path):
    _old_set(tmp_path)
    with switch_over(tmp_path):
        for name in NAMES:
            atomic_write(tmp_path / name, lambda handle, name=name: handle.write(f"new {name}"), mode="w")
            assert (tmp_path / name).read_text() == f"old {name}"  # nothing visible yet
    assert _contents(tmp_path) == {name: f"new {name}" for name in NAMES}  # no journal, no temporaries


def test_an_error_in_the_block_keeps_the_old_set_and_removes_the_new_files(tmp_path):
    _old_set(tmp_path)
    with pytest.raises(RuntimeError), switch_over(tmp_path):
        atomic_write(tmp_path / NAMES[0], lambda handle: handle.write("new"), mode="w")
        raise RuntimeError("the second write failed")
    assert _contents(tmp_path) == {name: f"old {name}" for name in NAMES}


# a process writing the new set that SIGKILLs itself at a chosen moment: after the `kill_after`-th
# rename of the switch-over (its commit point passed), or inside the block (before it)
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from mnist_cnn.io import switch
from mnist_cnn.io.files import atomic_write

folder, kill_after = Path(sys.argv[1]), int(sys.argv[2])
renames = 0
real_replace = os.replace

def replace(source, target):
    global renames
    if (folder / switch.JOURNAL_NAME).exists():
        if renames == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        renames += 1
    real_replace(source, target)

switch.os.replace = replace
with switch.switch_over(folder):
    for name in sys.argv[3:]:
        atomic_write(folder / name, lambda handle: handle.write(f"new {name}"), mode="w")
    if kill_after < 0:
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(folder: Path, kill_after: int) -> None:
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(folder), str(kill_after), *NAMES])
    assert done.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kill_after", [0, 1, 2])
def test_a_kill_between_two_renames_is_finished_by_the_next_start(tmp_path, kill_after):
    _old_set(tmp_path)
    _killed_writer(tmp_path, kill_after)
    left = _contents(tmp_path)
    assert JOURNAL_NAME in left  # committed: the next start rolls forward
    assert sum(text.startswith("new") for name, text in left.items() if name in NAMES) == kill_after
    finish_switch_over(tmp_path)
    assert _contents(tmp_path) == {name: f"new {name}" for name in NAMES}


def test_a_kill_before_the_commit_leaves_the_old_set_and_debris_the_next_run_removes(tmp_path):
    _old_set(tmp_path)
    _killed_writer(tmp_path, -1)
    assert finish_switch_over(tmp_path) == []  # no journal: nothing was committed
    for name in NAMES:
        assert (tmp_path / name).read_text() == f"old {name}"
        assert len(remove_stale_temporaries(tmp_path / name)) == 1
    assert _contents(tmp_path) == {name: f"old {name}" for name in NAMES}


@pytest.mark.parametrize("journal", [
    "not json",
    json.dumps([{"temporary": "/etc/hostname", "target": "{folder}/model.keras"}]),  # outside the folder
    json.dumps([{"temporary": "{folder}/history.csv", "target": "{folder}/model.keras"}]),  # not a temporary
    json.dumps({"temporary": "x"}),
])
def test_a_journal_from_a_stranger_renames_nothing_and_names_itself(tmp_path, journal):
    _old_set(tmp_path)
    (tmp_path / JOURNAL_NAME).write_text(journal.replace("{folder}", str(tmp_path)))
    with pytest.raises(InputFileError, match=f"{JOURNAL_NAME}: is not a switch-over journal .* delete it"):
        finish_switch_over(tmp_path)
    assert {name: text for name, text in _contents(tmp_path).items() if name in NAMES} == {
        name: f"old {name}" for name in NAMES}
