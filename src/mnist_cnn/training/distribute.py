"""How a run spreads over devices on each backend; the profile's batch is the global batch.

TensorFlow: a tf.distribute strategy. JAX: Keras' `DataParallel`, one program, so batch norm sees the whole
batch. PyTorch: one device."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from mnist_cnn import backends
from mnist_cnn.training.devices import Gpu, Placement, cpu_name, list_gpus, tpu_present


class KerasDistribution:
    """A run's devices on JAX or PyTorch: Keras' `distribution` (None for the default) and replicas."""

    def __init__(self, distribution: Any = None, replicas: int = 1, platform: str = "cpu") -> None:
        self.distribution = distribution
        self.num_replicas_in_sync = replicas
        self.platform = platform

    def scope(self) -> contextlib.AbstractContextManager:
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()


def make_strategy(device: str = "auto"):
    """The strategy for "auto", "cpu", "gpu", "mirrored" or "tpu" on the active backend.

    "auto" takes a TPU, else several GPUs, else the default device; "mirrored" every local device."""
    backend = backends.active()
    if backend == "tensorflow":
        return _tensorflow_strategy(device)
    if backend == "jax":
        return _jax_distribution(device)
    return _single_device(device, backend)


def resolve_placement(strategy, device: str = "auto", gpus: list[Gpu] | None = None) -> Placement:
    """The `Placement` of a strategy from `make_strategy`."""
    replicas = int(strategy.num_replicas_in_sync)
    if on_tpu(strategy):
        return Placement("tpu", "TPU", replicas)
    gpus = list_gpus() if gpus is None else gpus
    if not gpus or device == "cpu":  # every other strategy make_strategy builds puts work on GPUs
        return Placement("cpu", cpu_name(), replicas)
    return Placement("gpu", gpus[0].name, replicas, gpus[0].capability_text)


def on_tpu(strategy) -> bool:
    """Whether `strategy` trains on a TPU."""
    if isinstance(strategy, KerasDistribution):
        return strategy.platform == "tpu"
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.TPUStrategy)


def steps_per_call(wanted: int) -> int:
    """The steps Keras runs per call: `wanted`, or 1 under MirroredStrategy (Keras 3.15) and on PyTorch."""
    backend = backends.active()
    if backend != "tensorflow":
        return 1 if backend == "torch" else wanted
    import tensorflow as tf

    return 1 if isinstance(tf.distribute.get_strategy(), tf.distribute.MirroredStrategy) else wanted


def _tensorflow_strategy(device: str):
    import tensorflow as tf

    if device == "tpu" or (device == "auto" and tpu_present()):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if device == "mirrored" or (device == "auto" and len(gpus) > 1):
        replicas = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(replicas)
    if device == "gpu":
        if not gpus:
            raise RuntimeError("device='gpu' was asked for, but TensorFlow sees no GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0])
    if device == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    return tf.distribute.get_strategy()


def _jax_distribution(device: str) -> KerasDistribution:
    import jax
    import keras

    accelerators = [d for d in jax.devices() if d.platform != "cpu"]
    platform = accelerators[0].platform if accelerators else "cpu"
    if device in ("tpu", "gpu") and platform != device:
        raise RuntimeError(f"device={device!r} was asked for, but JAX sees no {device.upper()}")
    if device == "cpu":
        cpus = keras.distribution.list_devices("cpu")
        return KerasDistribution(keras.distribution.DataParallel(devices=cpus[:1]), 1, "cpu")
    local = keras.distribution.list_devices(platform)
    if device == "mirrored" or (device in ("auto", "tpu") and len(local) > 1):
        return KerasDistribution(keras.distribution.DataParallel(devices=local), len(local), platform)
    return KerasDistribution(None, 1, platform)


def _single_device(device: str, backend: str) -> KerasDistribution:
    if device in ("mirrored", "tpu"):
        raise RuntimeError(f"device={device!r} is not available on the {backend} backend: this project "
                           "spreads a run over several devices with TensorFlow or JAX "
                           "(KERAS_BACKEND=tensorflow or jax)")
    gpus = list_gpus()
    if device == "gpu" and not gpus:
        raise RuntimeError(f"device='gpu' was asked for, but {backend} sees no GPU")
    if device == "cpu" and gpus and os.environ.get("KERAS_TORCH_DEVICE") != "cpu":
        raise RuntimeError("device='cpu' on PyTorch with a GPU present: Keras takes the GPU; start "
                           "with KERAS_TORCH_DEVICE=cpu to train on the CPU")
    return KerasDistribution(None, 1, "gpu" if gpus else "cpu")
