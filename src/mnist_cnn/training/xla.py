"""Whether the training step is compiled with XLA: an explicit choice, made and recorded per run.

Keras' "auto" would compile, on a TensorFlow GPU, a warp with no XLA kernel; this module decides and says why.
"""

from __future__ import annotations

import keras

from mnist_cnn.config import Config
from mnist_cnn.training.devices import Placement


def choose_xla(config: Config, placement: Placement) -> tuple[bool, str]:
    """(whether to compile the training step, why) for `config.xla` on `placement` and the backend.

    "auto": on with JAX, off with PyTorch; on TensorFlow only for a single GPU without augmentation or
    determinism. `ValueError` for "on" with an augmented TensorFlow network."""
    backend = keras.backend.backend()
    augments_on_tensorflow = config.augment and backend == "tensorflow"
    if config.xla == "on" and augments_on_tensorflow:
        raise ValueError("xla=on cannot train an augmented network on TensorFlow: the augmentation's "
                         "warp has no XLA kernel there; set xla=auto (or off), or augment=false")
    if config.xla in ("on", "off"):
        return config.xla == "on", "set in the configuration"
    if backend == "jax":
        return True, "JAX compiles the step with XLA (op by op it would run many times slower)"
    if backend != "tensorflow":
        return False, f"Keras' compiled step on {backend} (torch.compile) is not measured here"
    if augments_on_tensorflow:
        return False, "the augmentation's warp (TensorFlow's ImageProjectiveTransformV3) has no XLA kernel"
    if config.deterministic:
        return False, "op determinism is on, and XLA does not promise deterministic kernels"
    if placement.kind == "tpu":
        return False, "TPUStrategy compiles every step with XLA of its own accord"
    if placement.replicas > 1:
        return False, "Keras does not compile with XLA under a tf.distribute strategy"
    if placement.kind == "cpu":
        return False, "on a CPU, XLA trains slower than TensorFlow's own kernels"
    return True, "a GPU, without augmentation or determinism: XLA fuses the step's kernels"
