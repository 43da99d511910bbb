"""Whether the training step is compiled with XLA: an explicit choice, made and recorded per run.

Keras' `jit_compile="auto"` turns XLA on with TensorFlow wherever a GPU is present, no distribution
strategy is in use, op determinism is off and every layer says it supports XLA. The augmentation's
warp (`ops.image.affine_transform`, TensorFlow's ImageProjectiveTransformV3, and the three layers of
the `original` recipe) has no XLA kernel in TensorFlow 2.20 or 2.21, so on a GPU with determinism off
"auto" would compile a step that cannot run. This module decides instead, says why, and refuses
`xla="on"` where it cannot compile.
"""

from __future__ import annotations

import keras

from mnist_cnn.config import Config
from mnist_cnn.training.devices import Placement

_WARP_HAS_NO_XLA_KERNEL = (
    "the augmentation's warp (TensorFlow's ImageProjectiveTransformV3) has no XLA kernel"
)


def choose_xla(config: Config, placement: Placement) -> tuple[bool, str]:
    """(whether to compile the training step with XLA, why), for `config.xla` on `placement`.

    "auto": off where the network augments on TensorFlow (the warp has no XLA kernel), with op
    determinism (XLA does not promise deterministic kernels; Keras' own rule), on a CPU (slower
    there: bench/README.md, "XLA on a CPU"), under several replicas (Keras leaves it off with
    tf.distribute) and on a TPU (TPUStrategy compiles every step with XLA anyway); on otherwise,
    which is a GPU training without augmentation and without determinism.
    """
    augments_on_tensorflow = config.augment and keras.backend.backend() == "tensorflow"
    if config.xla == "on":
        return True, "set in the configuration"
    if config.xla == "off":
        return False, "set in the configuration"
    if augments_on_tensorflow:
        return False, _WARP_HAS_NO_XLA_KERNEL
    if config.deterministic:
        return False, "op determinism is on, and XLA does not promise deterministic kernels"
    if placement.kind == "tpu":
        return False, "TPUStrategy compiles every step with XLA of its own accord"
    if placement.replicas > 1:
        return False, "Keras does not compile with XLA under a tf.distribute strategy"
    if placement.kind == "cpu":
        return False, "on a CPU, XLA trains slower than TensorFlow's own kernels"
    return True, "a GPU, without augmentation or determinism: XLA fuses the step's kernels"
