"""Where a training step's time goes: forward and backward of each piece of a network, one at a time.

For every piece of the network a profile builds (a convolution, or the max-pool + batch norm + ReLU
that follows it), on a batch of the profile's size at the shapes that piece sees in the network, it
times a compiled step that computes the piece and the gradients of its input and weights, and
prints milliseconds per batch. Each batch normalization is timed twice: as Keras'
`BatchNormalization` and as this package's `FusedBatchNormalization`. Then it times whole training
steps of the network both ways.

Against what ceiling: it also times a large float32 (or bfloat16) matrix product in the same process,
the most arithmetic per second this CPU gives TensorFlow in that precision, and prints each
convolution's and the whole step's multiply-adds per second as a share of it. A piece near 1.0 cannot
be made faster by execution settings, only by less arithmetic.

Run: `python bench/layer_probe.py [--profile full] [--set conv_filters=16,64] [--steps 50] [--isa AVX2]
[--onednn off] [--precision float32] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from keras import layers

# run as a script, this file's folder is on the path
from kernel_options import add_kernel_options, apply_kernel_options

from mnist_cnn.config import Config
from mnist_cnn.model import build_model, build_network
from mnist_cnn.training.devices import choose_precision, cpu_description, isa_cap
from mnist_cnn.training.fused_norm import build_training_model, with_training_norm
from mnist_cnn.training.onednn import describe_onednn, onednn_state
from mnist_cnn.training.recipe import compile_model


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


def matmul_gflops(dtype: str = "float32", side: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a side x side matrix product in `dtype`: the ceiling the pieces are compared to."""
    a = tf.random.uniform((side, side), dtype="float32")
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        product(a).numpy()
    return 2 * side**3 * repeats / (time.perf_counter() - started) / 1e9


def conv_flops(layer: layers.Conv2D, batch: int, input_gradient: bool = True) -> float:
    """Floating-point operations of a training step through `layer`: the forward product, the weights'
    gradient and (unless it is the first layer) the input's gradient, each as many as the forward."""
    _, height, width, channels_out = layer.output.shape
    kernel_h, kernel_w = layer.kernel_size
    forward = 2 * batch * height * width * channels_out * kernel_h * kernel_w * layer.input.shape[-1]
    return forward * (3 if input_gradient else 2)


def training_flops(classifier: keras.Model, batch: int) -> float:
    """Floating-point operations of one training step of `classifier`'s convolutions and dense layers
    (the arithmetic that counts; normalization, pooling and the optimizer are a few percent)."""
    total, first = 0.0, True
    for layer in classifier.layers:
        if isinstance(layer, layers.Conv2D):
            total += conv_flops(layer, batch, input_gradient=not first)
            first = False
        elif isinstance(layer, layers.Dense):
            total += 2 * batch * layer.input.shape[-1] * layer.units * 3
    return total


def _segments(classifier: keras.Model) -> list[list]:
    """The classifier's convolution units cut at each Conv2D: [conv], [max-pool?, norm, ReLU], ..."""
    segments: list[list] = []
    for layer in classifier.layers:
        if isinstance(layer, layers.Flatten):
            break
        if isinstance(layer, layers.Conv2D):
            segments += [[layer], []]
        elif segments:
            segments[-1].append(layer)
    return [segment for segment in segments if segment]


def network_pieces(config: Config):
    """(name, input shape, layer maker) of each convolution and what follows it, taken from the network
    `build_network` makes (new layers from each layer's config), with Keras' batch norm and the
    fused one."""
    plain = _segments(build_network(config))
    fused = _segments(with_training_norm(build_network(config), config))
    for keras_piece, fused_piece in zip(plain, fused, strict=True):
        head = keras_piece[0]
        shape = tuple(head.input.shape[1:])
        side = f"{shape[0]}x{shape[1]}"
        if isinstance(head, layers.Conv2D):
            variants = [(f"conv {shape[2]}->{head.filters} at {side}", keras_piece)]
        else:
            name = " + ".join(type(layer).__name__ for layer in keras_piece[:-1])
            variants = [(f"{name} + ReLU at {side}x{shape[2]}", keras_piece),
                        (f"... with {type(fused_piece[-2]).__name__} at {side}x{shape[2]}", fused_piece)]
        for label, piece in variants:
            yield label, shape, lambda piece=piece: [type(layer).from_config(layer.get_config())
                                                     for layer in piece]


def whole_step_seconds(config: Config, fused: bool, steps: int, jit_compile: bool = False) -> float:
    """Seconds per training step of the profile's training model, with or without fused batch norm
    (and, with `jit_compile`, compiled by XLA)."""
    model = build_training_model(config) if fused else build_model(config)
    # whole calls of steps_per_execution steps, so no call traces a shorter loop inside the timing
    steps = -(-steps // config.steps_per_execution) * config.steps_per_execution
    compile_model(model, config, steps_per_epoch=steps)
    if jit_compile:
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"],
                      steps_per_execution=config.steps_per_execution, jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.random((config.batch_size * steps, 28, 28, 1), dtype="float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, len(x)), 10)
    # whole batches as the dataset's elements: slicing single images costs tf.data more per image
    # than the step itself on a slow two-core CPU, and then every network times the same
    batches = (x.reshape(steps, config.batch_size, 28, 28, 1), y.reshape(steps, config.batch_size, 10))
    data = tf.data.Dataset.from_tensor_slices(batches).prefetch(2)
    model.fit(data, epochs=1, verbose=0, shuffle=False)  # traces and sets up the step
    started = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="the network to take apart (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per piece (default: %(default)s)")
    add_kernel_options(parser)
    parser.add_argument("--precision", default=None,
                        help="auto, float32 or mixed_bfloat16 (default: the profile's, auto)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a setting of the profile, to probe a candidate network "
                        "(default: none)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    args = parser.parse_args()
    apply_kernel_options(args)
    kernels = onednn_state()
    config = Config.from_profile(args.profile).with_settings(args.set)
    if args.precision:
        config = config.with_settings([f"precision={args.precision}"])
    policy, reason = choose_precision(config.precision, config.device)
    keras.mixed_precision.set_global_policy(policy)
    print(f"On {cpu_description()}; oneDNN's kernels {describe_onednn(kernels)}; "
          f"{policy} ({reason}); profile {args.profile}, "
          f"batch {config.batch_size}, forward + backward, ms per batch")
    ceiling = matmul_gflops("bfloat16" if "bfloat16" in policy else "float32")
    print(f"  ceiling: a 2048x2048 matrix product, {ceiling:.0f} GFLOP/s")
    pieces, shares = {}, {}
    for name, shape, make in network_pieces(config):
        made = make()
        pieces[name] = round(step_milliseconds(made, shape, config.batch_size, args.steps), 2)
        line = f"  {name:<70} {pieces[name]:7.2f}"
        if isinstance(made[0], layers.Conv2D):
            gflops = conv_flops(made[0], config.batch_size) / pieces[name] / 1e6
            shares[name] = round(gflops / ceiling, 2)
            line += f"   {gflops:5.0f} GFLOP/s, {shares[name]:.2f} of the ceiling"
        print(line, flush=True)
    keras_step = whole_step_seconds(config, fused=False, steps=args.steps)
    fused_step = whole_step_seconds(config, fused=True, steps=args.steps)
    step_gflops = training_flops(build_network(config), config.batch_size) / fused_step / 1e9
    print(f"whole training step: Keras BatchNormalization {keras_step * 1000:.1f} ms, "
          f"FusedBatchNormalization {fused_step * 1000:.1f} ms ({fused_step / keras_step:.2f} of it); "
          f"{step_gflops:.0f} GFLOP/s, {step_gflops / ceiling:.2f} of the ceiling")
    if args.json:
        args.json.write_text(json.dumps({
            "cpu": cpu_description(), "isa_cap": isa_cap(), "onednn_kernels": kernels, "precision": policy,
            "precision_reason": reason, "profile": args.profile,
            "settings": args.set, "batch": config.batch_size, "steps": args.steps,
            "piece_ms": pieces,
            "step_ms": {"keras_batch_norm": round(keras_step * 1000, 1),
                        "fused_batch_norm": round(fused_step * 1000, 1)},
            "ceiling_gflops": round(ceiling, 1), "conv_share_of_ceiling": shares,
            "step_share_of_ceiling": round(step_gflops / ceiling, 2),
        }, indent=2))


if __name__ == "__main__":
    main()
