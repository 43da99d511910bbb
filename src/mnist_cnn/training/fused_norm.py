"""Batch normalization that trains through TensorFlow's fused kernel: the same layer, a third of the time.

Keras 3's `BatchNormalization` computes a training batch's statistics and normalisation as a chain
of separate float32 operations (cast, mean, squared difference, mean, scale, shift) and
differentiates through each of them. On a 2-core CPU that chain cost twice the convolution before it
in the `fast` network: batch norm + ReLU at 26x26x32 took 20.6 ms a batch of 256, forward and
backward, against 10.3 ms for the 32-to-32 convolution (bench/layer_probe.py). TensorFlow's fused
kernel (FusedBatchNormV3, oneDNN on CPUs, cuDNN on GPUs) does the same work in one pass: 6.2 ms.

`FusedBatchNormalization` is a `BatchNormalization` with the same variables, the same arithmetic and
the same moving-statistics update; only a training call on 4-D channels-last input with the
TensorFlow backend takes the fused route, every other call (inference, masks, other backends) is
Keras' own. It lives only in the training model: the classifier that is saved is rebuilt with
plain `BatchNormalization` layers and these weights, so it loads in any Keras without this package.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers, ops

from mnist_cnn.config import Config
from mnist_cnn.keras_compat import renormalises
from mnist_cnn.model import build_augmentation, build_network, with_augmentation


@keras.saving.register_keras_serializable(package="mnist_cnn")
class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step runs as one fused TensorFlow kernel."""

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else ops.ones((channels,), "float32")
        beta = self.beta if self.center else ops.zeros((channels,), "float32")
        # the kernel takes bfloat16 and float16 inputs as they are and keeps its statistics in
        # float32, as Keras' layer does after its cast
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            ops.cast(gamma, "float32"),
            ops.cast(beta, "float32"),
            epsilon=self.epsilon,
            is_training=True,
            data_format="NHWC",
        )
        # the kernel hands back the unbiased (n - 1) variance for the moving average; Keras' layer
        # averages the batch's own (n) variance, which is also what the kernel normalised with
        count = ops.cast(ops.prod(ops.shape(inputs)[:-1]), "float32")
        variance = variance * (count - 1.0) / count
        momentum = ops.cast(self.momentum, "float32")
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return ops.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and mask is None
            and not renormalises(self)
            and not self.synchronized
        )


def training_norm(config: Config, replicas: int = 1) -> tuple[type, bool]:
    """The batch-norm class a network trains with, and whether it is synchronized over replicas.

    The fused kernel for this project's network; Keras' own for the original, which trains as written.
    The class is the same whatever the replicas, and with it every path in a resume point."""
    layer = FusedBatchNormalization if config.architecture == "fast" else layers.BatchNormalization
    # JAX's DataParallel compiles one program over the global batch: its statistics are the whole's
    return layer, replicas > 1 and keras.backend.backend() == "tensorflow"


def with_training_norm(classifier: keras.Model, config: Config, replicas: int = 1) -> keras.Model:
    """`classifier` with its batch norms swapped for `training_norm`'s, the same weights kept."""
    norm, synchronized = training_norm(config, replicas)

    def swap(layer):
        settings = layer.get_config()
        if isinstance(layer, layers.BatchNormalization):
            return norm.from_config({**settings, "synchronized": synchronized})
        return type(layer).from_config(settings)

    if norm is layers.BatchNormalization and not synchronized:
        return classifier
    swapped = keras.models.clone_model(classifier, clone_function=swap)
    swapped.set_weights(classifier.get_weights())
    return swapped


def build_training_model(
    config: Config,
    replicas: int = 1,
    network: Callable[[Config], keras.Model] = build_network,
    augmentation: Callable[[Config], layers.Layer] = build_augmentation,
) -> keras.Model:
    """`network` behind `augmentation` (where the config augments), with the training batch norm."""
    classifier = with_training_norm(network(config), config, replicas)
    return with_augmentation(classifier, augmentation(config) if config.augment else None)
