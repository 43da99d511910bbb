"""What `mnist-cnn train` shows while it trains, recorded from a real run in a pseudo-terminal.

Runs the command under a pty (so its bar updates in place, as in a terminal), splits the screen at
each in-place redraw, and writes every state the screen went through, with the CPU, to JSON. The
README's sample of a run is quoted from this record, and a test holds it to it.

Run: `python bench/progress_sample.py --json bench/results/progress_sample_quick.json` (default
profile `quick`, into a scratch folder under runs/).
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def screen_states(command: list[str], timeout: float = 600) -> list[str]:
    """Every line or bar state the command printed in a terminal, in order."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, close_fds=True,
                               cwd=ROOT)
    os.close(follower)
    chunks = []
    while select.select([leader], [], [], timeout)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the command
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    states = []
    from mnist_cnn.live import CLEAR_LINE  # what the bar writes before each state

    for part in b"".join(chunks).decode(errors="replace").split(CLEAR_LINE):
        states += [line for line in part.replace("\r\n", "\n").split("\n") if line.strip()]
    return states


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="the profile to train (default: %(default)s)")
    parser.add_argument("--scratch", type=Path, default=Path("runs") / "progress_sample",
                        help="models, figures and run directory of the run, relative to the repository "
                        "(default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the record here (default: none)")
    args = parser.parse_args(argv)
    from mnist_cnn.training.devices import cpu_description

    command = [sys.executable, "-m", "mnist_cnn.cli", "train", "--profile", args.profile, "--fresh",
               "--models-dir", str(args.scratch / "models"), "--figures-dir", str(args.scratch / "figures"),
               "--run-dir", str(args.scratch / "run")]
    states = screen_states(command)
    epoch_seconds = [float(line.rsplit(" ", 1)[-1].rstrip("s")) for line in states
                     if line.startswith("epoch ") and line.endswith("s") and "cross-entropy" in line]
    record = {"command": f"mnist-cnn train --profile {args.profile}", "cpu": cpu_description(),
              "states": states, "epoch_seconds": epoch_seconds}
    print("\n".join(states))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return record


if __name__ == "__main__":
    main()
