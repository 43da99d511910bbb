"""Fused batch normalization: Keras' layer's numbers in training and inference, and a plain saved model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.training.fused_norm import FusedBatchNormalization, build_training_model
from mnist_cnn.training.loop import train


def _twins(channels: int):
    """A plain and a fused layer with the same non-trivial weights and moving statistics."""
    rng = np.random.default_rng(1)
    weights = [rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.5, channels),
               rng.normal(0, 1, channels), rng.uniform(0.5, 2, channels)]
    twins = layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    for layer in twins:
        layer.build((None, 6, 5, channels))
        layer.set_weights([w.astype("float32") for w in weights])
    return twins


def _training_step(layer, x):
    """Output, and gradients of a loss that weighs every output differently, for x, gamma and beta."""
    weights = tf.cast(tf.reshape(tf.range(tf.size(x)) % 7, tf.shape(x)), "float32") - 3.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    return y, tape.gradient(loss, [x, layer.gamma, layer.beta])


def test_a_training_step_matches_keras_batch_normalization():
    plain, fused = _twins(8)
    x = tf.constant(np.random.default_rng(2).normal(3.0, 2.0, (4, 6, 5, 8)).astype("float32"))
    (y_plain, g_plain), (y_fused, g_fused) = _training_step(plain, x), _training_step(fused, x)
    np.testing.assert_allclose(y_fused, y_plain, atol=1e-4)
    for got, want in zip(g_fused, g_plain, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-3, rtol=1e-3)
    # the moving statistics follow the batch's own variance (n, not n - 1), as Keras' layer's do
    for got, want in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain.get_weights()[2], _twins(8)[0].get_weights()[2])  # they did move


def test_training_runs_one_fused_kernel_and_inference_does_not():
    _, fused = _twins(8)
    spec = tf.TensorSpec((None, 6, 5, 8), "float32")

    def op_types(training):
        graph = tf.function(lambda x: fused(x, training=training)).get_concrete_function(spec).graph
        return {op.type for op in graph.get_operations()}

    assert "FusedBatchNormV3" in op_types(True)
    assert "FusedBatchNormV3" not in op_types(False)


def test_inference_and_other_shapes_are_keras_own():
    plain, fused = _twins(8)
    x = tf.constant(np.random.default_rng(3).normal(0, 1, (4, 6, 5, 8)).astype("float32"))
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), atol=1e-6)
    flat_plain, flat_fused = layers.BatchNormalization(), FusedBatchNormalization()
    flat = tf.constant(np.random.default_rng(4).normal(0, 1, (16, 8)).astype("float32"))
    np.testing.assert_allclose(flat_fused(flat, training=True), flat_plain(flat, training=True), atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "float32"])
def test_under_mixed_precision_it_computes_in_the_policy_and_keeps_float32_weights(policy):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        plain, fused = _twins(16)
        x = tf.constant(np.random.default_rng(5).normal(0, 1, (8, 6, 5, 16)), dtype=plain.compute_dtype)
        y_plain, y_fused = plain(x, training=True), fused(x, training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert y_fused.dtype == y_plain.dtype
    assert {w.dtype for w in fused.get_weights()} == {np.dtype("float32")}
    tolerance = 0.05 if policy == "mixed_bfloat16" else 1e-4  # bfloat16 keeps 8 bits of mantissa
    np.testing.assert_allclose(np.asarray(tf.cast(y_fused, "float32")),
                               np.asarray(tf.cast(y_plain, "float32")), atol=tolerance)


@pytest.mark.slow
def test_only_the_training_model_uses_it_and_the_trained_classifier_is_plain_keras(tmp_path, smoke_dataset):
    config = Config.from_profile("smoke", run_dir=tmp_path / "run")
    training_model = build_training_model(config)
    assert any(isinstance(layer, FusedBatchNormalization) for layer in _all_layers(training_model))
    result = train(config, smoke_dataset)
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in _all_layers(result.model))
    assert any(type(layer) is layers.BatchNormalization for layer in _all_layers(result.model))
    # trained: its moving statistics moved away from Keras' starting 0 and 1
    norm = next(layer for layer in result.model.layers if isinstance(layer, layers.BatchNormalization))
    assert np.abs(norm.moving_mean.numpy()).max() > 1e-3
    probabilities = result.model.predict(to_model_input(smoke_dataset.test_x[:64]), verbose=0)
    assert (probabilities.argmax(1) == smoke_dataset.test_y[:64]).mean() > 0.5


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
