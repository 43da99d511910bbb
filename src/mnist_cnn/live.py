"""Training shown as it happens: the bar in a terminal; the bar and the learning curves in a notebook.

In a terminal the bar is one line updated in place, and nothing in a pipe or file. In a notebook each is one
display output (`display_id`), so an executed notebook keeps only its last state."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from mnist_cnn.evaluation.plots import training_curves
from mnist_cnn.training.progress import Progress, format_bar

CLEAR_LINE = "\r\033[K"  # back to the line's start, then erase it


class TerminalBar:
    """`line` prints a line above the bar; `update` redraws the bar (in a terminal only)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self._shown = False

    def line(self, text: str) -> None:
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, progress: Progress) -> None:
        if progress.epoch_ended:  # the epoch's own line follows
            self.clear()
        elif self.live:
            width = shutil.get_terminal_size((100, 24)).columns
            self.stream.write(CLEAR_LINE + format_bar(progress)[: max(width - 1, 20)])
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR_LINE)
            self.stream.flush()
            self._shown = False


class LiveTraining:
    """Pass it as `progress=` to a `TrainingSession`; then `finish` with the final curves' PNG."""

    def __init__(self, curves: bool = True) -> None:
        self.curves = curves
        self._bar = self._figure = None
        self._last: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        from IPython.display import Image, Pretty, display

        bar = Pretty(format_bar(progress))
        if self._bar is None:  # both displays first: the epoch lines then print below them
            self._bar = display(bar, display_id=True)
            if self.curves:
                self._figure = display(Pretty("learning curves after the first epoch"), display_id=True)
        else:
            self._bar.update(bar)
        self._last = progress
        if progress.epoch_ended and self._figure is not None and progress.history:
            png = io.BytesIO()  # a Figure, not pyplot's: nothing to close
            training_curves(pd.DataFrame(list(progress.history))).savefig(png, format="png", dpi=80)
            self._figure.update(Image(data=png.getvalue(), format="png"))

    def finish(self, figure_png: str | Path | None = None, result: Any = None) -> None:
        """Turn the bar into one line on what was trained, and the curves into the given PNG."""
        from IPython.display import Image, Pretty

        if self._bar is not None:
            self._bar.update(Pretty(trained_line(result, self._last)))
        if self._figure is not None and figure_png is not None:
            self._figure.update(Image(filename=str(figure_png)))


def trained_line(result: Any = None, last: Progress | None = None) -> str:
    """"trained 1 epoch in 2 s; best epoch 1", from a `TrainResult` or else the last progress."""
    if result is None:
        return f"trained {last.epoch} of {last.epochs} epochs" if last else "trained"
    epochs = f"{result.epochs_run} epoch{'s' if result.epochs_run != 1 else ''}"
    return f"trained {epochs} in {result.train_seconds:.0f} s; best epoch {result.best_epoch}"
