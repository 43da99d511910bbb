"""What a notebook shows while it trains: the bar and the learning curves, each updated in place.

Each is one display output (`display_id`), so an executed notebook keeps only its last state."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd

from mnist_cnn.evaluation.plots import training_curves
from mnist_cnn.training.progress import Progress, format_bar


class LiveTraining:
    """Pass it as `progress=` to a `TrainingSession`; then `finish` with the final curves' PNG."""

    def __init__(self, curves: bool = True) -> None:
        self.curves = curves
        self._bar = self._figure = None
        self._last: Progress | None = None

    def __call__(self, progress: Progress) -> None:
        from IPython.display import Pretty, display

        bar = Pretty(format_bar(progress))
        if self._bar is None:  # both displays first: the epoch lines then print below them
            self._bar = display(bar, display_id=True)
            if self.curves:
                self._figure = display(Pretty("learning curves after the first epoch"), display_id=True)
        else:
            self._bar.update(bar)
        self._last = progress
        if progress.epoch_ended and self._figure is not None and progress.history:
            self._figure.update(_png(training_curves(pd.DataFrame(list(progress.history)))))

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


def _png(figure):
    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)  # a Figure, not pyplot's: nothing to close
    return Image(data=buffer.getvalue(), format="png")
