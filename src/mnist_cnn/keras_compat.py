"""Every use of Keras internals, in one place, and saving that older Keras reads.

No public way exists to warm up the weight average (Adam's `_update_model_variables_moving_average`), reach
the averaged variables (`_trainable_variables`, `_model_variables_moving_average`), let a checkpoint count a
tie as better (`_set_monitor_op`), or ask whether batch norm renormalises (Keras 3.15's `renorm`). Checked on
`CHECKED_ON`; tests/test_keras_compat.py and `make test-keras-matrix` hold each piece. `portable_configs`
leaves newer inert arguments out of saved configurations."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

CHECKED_ON = ("3.13.2", "3.14.0", "3.15.1")

# Arguments added to built-in classes after Keras 3.8 (the oldest Keras on Colab since 2025), with
# the default that makes them inert: left out of a saved configuration while they hold it.
_NEWER_ARGUMENTS: dict[type, dict[str, Any]] = {
    keras.layers.BatchNormalization: {"renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99},
    keras.layers.Dense: {"quantization_config": None},
    keras.initializers.VarianceScaling: {"input_axes": None, "output_axes": None},
}


def _classes_defining_get_config(base: type) -> list[type]:
    """`base` and every subclass of it that defines its own get_config (GlorotUniform does)."""
    found = [base] if "get_config" in vars(base) else []
    for subclass in base.__subclasses__():
        found += _classes_defining_get_config(subclass)
    return found


def _without_inert(get_config, inert: dict[str, Any]):
    def get_config_without_inert(self):
        config = get_config(self)
        return {key: value for key, value in config.items()
                if not (key in inert and type(value) is type(inert[key]) and value == inert[key])}

    return get_config_without_inert


@contextlib.contextmanager
def portable_configs() -> Iterator[None]:
    """While active, built-in layers and initializers leave out of their configuration the arguments
    that Keras added after 3.8, when those hold their inert defaults. Wrap `model.save` in it."""
    originals: dict[type, Any] = {}
    try:
        for base, inert in _NEWER_ARGUMENTS.items():
            for cls in _classes_defining_get_config(base):
                if cls not in originals:
                    originals[cls] = vars(cls)["get_config"]
                    cls.get_config = _without_inert(originals[cls], inert)
        yield
    finally:
        for cls, get_config in originals.items():
            cls.get_config = get_config


def renormalises(layer: keras.layers.BatchNormalization) -> bool:
    """Whether a batch-norm layer uses batch renormalization (Keras 3.15's `renorm`; never before)."""
    return bool(getattr(layer, "renorm", False))


def weight_average_pairs(optimizer: keras.optimizers.Optimizer) -> list[tuple[Any, Any]]:
    """(trained variable, its moving average) for an optimizer built with `use_ema=True`.

    Under float16 a `LossScaleOptimizer` wraps it; its `inner_optimizer` holds them (as in SwapEMAWeights)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    return list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True))


class AveragingAdam(keras.optimizers.Adam):
    """Adam whose weight average warms up: at step t its momentum is min(ema_momentum, (1 + t) / (10 + t)).

    Keras' average uses `ema_momentum` from the first step, so it still holds e^-1 of the random starting
    weights after 1 / (1 - momentum) steps (1,000 at 0.999: two epochs at batch 128, five at 256) and
    validates near chance until then. The warm-up (as tf.train.ExponentialMovingAverage's `num_updates`)
    averages over the steps so far until the full momentum takes over, at 0.999 after about 9,000 steps:
    a 16-epoch run at batch 256 (3,360 steps) ends at 0.9973."""

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self.use_ema:
            return
        step = keras.ops.cast(self.iterations, "float32")
        momentum = keras.ops.minimum(float(self.ema_momentum), (1.0 + step) / (10.0 + step))
        for variable, average in zip(trainable_variables, self._model_variables_moving_average, strict=True):
            if average is not None:
                rate = keras.ops.cast(momentum, average.dtype)
                average.assign(rate * average + (1.0 - rate) * keras.ops.cast(variable, average.dtype))


class TiesCountAsBetter:
    """Mixin for a Keras monitor callback (ModelCheckpoint, EarlyStopping): an epoch that equals the
    best so far counts as an improvement, so the later epoch wins a tie."""

    def _set_monitor_op(self):
        super()._set_monitor_op()
        ties_count = {keras.ops.greater: keras.ops.greater_equal, keras.ops.less: keras.ops.less_equal}
        self.monitor_op = ties_count.get(self.monitor_op, self.monitor_op)
