"""The command's progress bar: one line updated in place in a terminal, nothing in a pipe or file."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from mnist_cnn.training.progress import Progress, format_bar

CLEAR_LINE = "\r\033[K"  # back to the line's start, then erase it


class TerminalBar:
    """`line` prints a line above the bar; `update` redraws the bar (in a terminal only)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.live = bool(isatty and isatty())
        self._shown = False

    def line(self, text: str) -> None:
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, progress: Progress) -> None:
        if not self.live:
            return
        if progress.epoch_ended:  # the epoch's own line follows
            self.clear()
            return
        width = shutil.get_terminal_size((100, 24)).columns
        self.stream.write(CLEAR_LINE + format_bar(progress)[: max(width - 1, 20)])
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._shown = False
