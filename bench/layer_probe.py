"""Where a training step's time goes: forward and backward of each piece of a network, one at a time.

For every piece of the network a profile builds (a convolution, or the max-pool + batch norm + ReLU
that follows it), on a batch of the profile's size at the shapes that piece sees in the network, it
times a compiled step that computes the piece and the gradients of its input and weights, and
prints milliseconds per batch. Each batch normalization is timed twice: as Keras'
`BatchNormalization` and as this package's `FusedBatchNormalization`. Then it times whole training
steps of the network both ways.

Run: `python bench/layer_probe.py [--profile full] [--steps 50]`.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from mnist_cnn.config import Config
from mnist_cnn.devices import choose_precision, cpu_description
from mnist_cnn.fused_norm import FusedBatchNormalization
from mnist_cnn.model import build_model
from mnist_cnn.train import compile_model


def step_milliseconds(pieces: list, shape: tuple[int, ...], batch: int, steps: int) -> float:
    """Milliseconds of one compiled forward + backward pass of `pieces` on a (batch, *shape) input."""
    inputs = keras.Input(shape)
    outputs = inputs
    for piece in pieces:
        outputs = piece(outputs)
    model = keras.Model(inputs, outputs)
    data = tf.random.uniform((batch, *shape))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(model(x, training=True), "float32"))
        return tape.gradient(loss, [x, *model.trainable_variables])

    for _ in range(5):
        step(data)
    started = time.perf_counter()
    for _ in range(steps):
        step(data)
    return (time.perf_counter() - started) / steps * 1000


def network_pieces(config: Config):
    """(name, input shape, layer makers) of each convolution and what follows it, as in `model._unit`."""
    side, channels = 28, 1
    for filters, convs in zip(config.conv_filters, config.convs_per_block, strict=True):
        for index in range(convs):
            pool = index == convs - 1
            out_side = side - 2 if config.padding == "valid" else side
            yield (f"conv {channels}->{filters} at {side}x{side}", (side, side, channels),
                   lambda f=filters: [layers.Conv2D(f, 3, use_bias=False, padding=config.padding)])
            side, channels = out_side, filters
            name = f"{'max-pool + ' if pool else ''}batch norm + ReLU at {side}x{side}x{channels}"
            for norm in (layers.BatchNormalization, FusedBatchNormalization):
                yield (f"{name}, {norm.__name__}", (side, side, channels),
                       lambda n=norm, p=pool: [*([layers.MaxPooling2D()] if p else []),
                                               n(momentum=0.9), layers.Activation("relu")])
            if pool:
                side //= 2


def whole_step_seconds(config: Config, fused: bool, steps: int) -> float:
    """Seconds per training step of the profile's training model, with or without fused batch norm."""
    model = build_model(config, fused_norm=fused)
    # whole calls of steps_per_execution steps, so no call traces a shorter loop inside the timing
    steps = -(-steps // config.steps_per_execution) * config.steps_per_execution
    compile_model(model, config, steps_per_epoch=steps)
    rng = np.random.default_rng(0)
    x = rng.random((config.batch_size * steps, 28, 28, 1), dtype="float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(config.batch_size).prefetch(2)
    model.fit(data, epochs=1, verbose=0, shuffle=False)  # traces and sets up the step
    started = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="the network to take apart (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per piece (default: %(default)s)")
    args = parser.parse_args()
    config = Config.from_profile(args.profile)
    policy, reason = choose_precision(config.precision, config.device)
    keras.mixed_precision.set_global_policy(policy)
    print(f"On {cpu_description()}; {policy} ({reason}); profile {args.profile}, "
          f"batch {config.batch_size}, forward + backward, ms per batch")
    for name, shape, make in network_pieces(config):
        print(f"  {name:<70} {step_milliseconds(make(), shape, config.batch_size, args.steps):7.2f}",
              flush=True)
    keras_step = whole_step_seconds(config, fused=False, steps=args.steps)
    fused_step = whole_step_seconds(config, fused=True, steps=args.steps)
    print(f"whole training step: Keras BatchNormalization {keras_step * 1000:.1f} ms, "
          f"FusedBatchNormalization {fused_step * 1000:.1f} ms ({fused_step / keras_step:.2f} of it)")


if __name__ == "__main__":
    main()
