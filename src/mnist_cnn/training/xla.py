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
    """(whether to compile the training step, why), for `config.xla` on `placement` and the backend.

    Keras' `jit_compile` means XLA on TensorFlow, `jax.jit` on JAX and `torch.compile` on PyTorch.
    On JAX "auto" is on: without it every operation runs on its own. On PyTorch "auto" is off: Keras
    calls its training step compiled with `torch.compile` experimental, and it is not measured here.
    On TensorFlow "auto" is off where the network augments (the warp has no XLA kernel), with op
    determinism (XLA does not promise deterministic kernels; Keras' own rule), on a CPU (slower
    there: bench/README.md, "XLA on a CPU"), under several replicas (Keras leaves it off with
    tf.distribute) and on a TPU (TPUStrategy compiles every step with XLA anyway); on otherwise,
    which is a GPU training without augmentation and without determinism.

    Raises:
        ValueError: "on" for an augmented network on TensorFlow, which cannot compile its warp.
    """
    backend = keras.backend.backend()
    augments_on_tensorflow = config.augment and backend == "tensorflow"
    if config.xla == "on" and augments_on_tensorflow:
        raise ValueError("xla=on cannot train an augmented network on TensorFlow: the augmentation's "
                         "warp has no XLA kernel there; set xla=auto (or off), or augment=false")
    if config.xla == "on":
        return True, "set in the configuration"
    if config.xla == "off":
        return False, "set in the configuration"
    if backend == "jax":
        return True, "JAX compiles the step with XLA (op by op it would run many times slower)"
    if backend != "tensorflow":
        return False, f"Keras' compiled step on {backend} (torch.compile) is not measured here"
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
