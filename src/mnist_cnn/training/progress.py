"""Progress within and across epochs for the command's bar and the notebook's display."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import keras


@dataclass(frozen=True)
class Progress:
    """Where a training run stands: during an epoch, or (`epoch_ended`) just after one."""

    epoch: int  # 1-based: the epoch under way, or the one that just ended
    epochs: int
    step: int  # training steps done in this epoch
    steps: int
    seconds: float  # since this epoch began
    seconds_per_epoch: float | None  # the last whole epoch's, or this one's extrapolated; None: unknown
    seconds_left_epoch: float | None  # None until a rate is measured (the first call also traces)
    seconds_left: float | None  # for the whole run, ensembles included
    steps_per_second: float | None = None
    member: int = 1  # network k of `members` in an ensemble
    members: int = 1
    epoch_ended: bool = False
    history: tuple[dict[str, float], ...] = field(default=(), repr=False)  # the rows so far


def format_duration(seconds: float | None) -> str:
    """2:05, 1:02:03, or "?" while unknown."""
    if seconds is None:
        return "?"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_bar(progress: Progress, width: int = 20) -> str:
    """One line: network k of N, the epoch, a bar of its steps, the rate, and the time left."""
    done = min(progress.step, progress.steps)
    filled = round(width * done / progress.steps) if progress.steps else width
    parts = [f"network {progress.member}/{progress.members}"] if progress.members > 1 else []
    parts.append(f"epoch {progress.epoch}/{progress.epochs}")
    parts.append(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{progress.steps} steps")
    if progress.steps_per_second:
        parts.append(f"{progress.steps_per_second:.1f} steps/s")
    if progress.step < progress.steps or progress.seconds_left_epoch is None:
        parts.append(f"epoch {format_duration(progress.seconds_left_epoch)} left")
    else:
        parts.append("validating")
    parts.append(f"run {format_duration(progress.seconds_left)} left")
    return "  ".join(parts)


class ProgressCallback(keras.callbacks.Callback):
    """Hand a `Progress` to `sink` after steps (at most every `min_interval` s) and after each epoch.

    The rate excludes each epoch's first call (tracing); the time left assumes the last whole epoch."""

    def __init__(self, sink: Callable[[Progress], Any], epochs: int, steps: int,
                 history: list[dict[str, float]], min_interval: float = 0.25) -> None:
        super().__init__()
        self.sink, self.epochs, self.steps, self.history = sink, epochs, steps, history
        self.min_interval = min_interval
        self._epoch = 0
        self._began = self._first_time = self._last_sent = 0.0
        self._first_step = 0
        self._last_epoch_seconds: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._began = time.perf_counter()
        self._first_step, self._last_sent = 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        now, step = time.perf_counter(), batch + 1
        if not self._first_step:
            self._first_step, self._first_time = step, now
        if now - self._last_sent < self.min_interval and step < self.steps:
            return
        self._last_sent = now
        rate = self._rate(step, now)
        left_epoch = (self.steps - step) / rate if rate else None
        if left_epoch is None and self._last_epoch_seconds is not None:  # no rate yet: as the last epoch
            left_epoch = max(self._last_epoch_seconds - (now - self._began), 0.0)
        per_epoch = self._last_epoch_seconds or (now - self._began + left_epoch if rate else None)
        self.sink(self._progress(step, now, per_epoch, left_epoch, rate))

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self._last_epoch_seconds = now - self._began
        rate = self._rate(self.steps, now)
        self.sink(self._progress(self.steps, now, self._last_epoch_seconds, 0.0, rate, ended=True))

    def _rate(self, step: int, now: float) -> float | None:
        """Steps a second since the epoch's first call; None until a second call has measured one."""
        if step > self._first_step and now > self._first_time:
            return (step - self._first_step) / (now - self._first_time)
        return None

    def _progress(self, step, now, per_epoch, left_epoch, rate, ended=False) -> Progress:
        to_come = self.epochs - self._epoch
        left = None if left_epoch is None or per_epoch is None else left_epoch + to_come * per_epoch
        return Progress(self._epoch, self.epochs, step, self.steps, now - self._began, per_epoch,
                        left_epoch, left, rate, epoch_ended=ended,
                        history=tuple(self.history) if ended else ())


def for_member(sink: Callable[[Progress], Any], member: int, members: int) -> Callable[[Progress], Any]:
    """`sink` for network `member` of `members`: its time left counts each network still to train."""

    def forward(progress: Progress) -> Any:
        left = progress.seconds_left
        if left is not None and progress.seconds_per_epoch is not None:
            left += (members - member) * progress.epochs * progress.seconds_per_epoch
        return sink(replace(progress, member=member, members=members, seconds_left=left))

    return forward
