"""Learning-rate schedules: the one-cycle schedule of this project's profiles, and the choice by config."""

from __future__ import annotations

import math

import keras

from mnist_cnn.config import Config


@keras.saving.register_keras_serializable(package="mnist_cnn")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay, from the optimizer's step counter (so it resumes)."""

    def __init__(self, peak: float, total_steps: int, warmup: float = 0.2, floor: float = 1e-3):
        self.peak, self.total_steps = float(peak), int(total_steps)
        self.warmup, self.floor = float(warmup), float(floor)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = max(1.0, self.warmup * self.total_steps)
        rise = self.peak * (0.1 + 0.9 * step / warm)
        progress = keras.ops.clip((step - warm) / max(1.0, self.total_steps - warm), 0.0, 1.0)
        fall = self.peak * (self.floor + (1 - self.floor) * 0.5 * (1 + keras.ops.cos(math.pi * progress)))
        return keras.ops.where(step < warm, rise, fall)

    def get_config(self) -> dict:
        return {name: getattr(self, name) for name in ("peak", "total_steps", "warmup", "floor")}


def learning_rate(config: Config, steps_per_epoch: int):
    """The config's schedule over the whole run; a number for "plateau" (ReduceLROnPlateau lowers it)."""
    total = steps_per_epoch * config.epochs
    if config.schedule == "onecycle":
        return OneCycle(config.learning_rate, total)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate * 0.1, decay_steps=total,
                                                      warmup_target=config.learning_rate,
                                                      warmup_steps=steps_per_epoch)
    return config.learning_rate
