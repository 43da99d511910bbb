"""Batch normalization through TensorFlow's fused kernel, swapped in for training only.

The same variables and arithmetic as Keras' layer in one kernel: 0.83 of `quick`'s bfloat16 step
(bench/results/layer_probe_quick.json). The saved classifier has Keras' own layer, so it loads in any
Keras; on several replicas either layer takes the whole batch's statistics (`synchronized`).
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
            inputs, ops.cast(gamma, "float32"), ops.cast(beta, "float32"), epsilon=self.epsilon,
            is_training=True, data_format="NHWC")
        # the kernel hands back the unbiased (n - 1) variance for the moving average; Keras' layer
        # averages the batch's own (n) variance, which is also what the kernel normalised with
        count = ops.cast(ops.prod(ops.shape(inputs)[:-1]), "float32")
        variance = variance * (count - 1.0) / count
        momentum = ops.cast(self.momentum, "float32")
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return ops.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and mask is None and not renormalises(self) and not self.synchronized)


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


def build_training_model(config: Config, replicas: int = 1,
                         network: Callable[[Config], keras.Model] = build_network,
                         augmentation: Callable[[Config], layers.Layer] = build_augmentation) -> keras.Model:
    """`network` behind `augmentation` (where the config augments), with the training batch norm."""
    classifier = with_training_norm(network(config), config, replicas)
    return with_augmentation(classifier, augmentation(config) if config.augment else None)
