"""Where training runs: the tf.distribute strategy for a TPU, several GPUs, one GPU or the CPU."""

from __future__ import annotations

import os
from pathlib import Path


def make_strategy(device: str = "auto"):
    """A tf.distribute strategy for "auto", "cpu", "gpu", "mirrored" or "tpu".

    "auto" takes a TPU where one is attached (Colab), several GPUs through MirroredStrategy, and
    otherwise the default strategy (one GPU if present, else the CPU).
    """
    import tensorflow as tf

    if device == "tpu" or (device == "auto" and _tpu_present()):
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


def _tpu_present() -> bool:
    # Colab's TPU runtimes announce themselves so; asking the resolver elsewhere can wait on a
    # metadata server that this machine cannot reach
    return (
        bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"))
        or Path("/dev/accel0").exists()
    )


def device_description() -> str:
    """What the run trained on, in words."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    return f"CPU ({os.cpu_count()} cores)"
