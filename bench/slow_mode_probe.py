"""The slow mode of training on a small CPU: tf.data's autotuning against a fixed prefetch.

Trains the `full` network on 12,800 MNIST images a pass, several passes, in fresh processes that
alternate between the two input pipelines (autotuning on, as `prefetch(tf.data.AUTOTUNE)` gives; and
off, with a fixed prefetch of 2, as `train.make_datasets` now builds it). For every pass it prints the
wall seconds, the CPU seconds the process used, and the seconds the machine's cores sat idle (from
/proc/stat): a pass in the slow mode is one whose cores wait rather than compute.

Run: `python bench/slow_mode_probe.py [--processes 3] [--passes 5] [--precision float32]`.
Linux only (it reads /proc/stat).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

PIPELINES = ("autotune", "fixed")
IMAGES = 12_800
SLOW_IDLE_SECONDS = 2.0  # a pass whose cores sat idle this long is counted as slow


def idle_seconds() -> float:
    """Seconds all cores have been idle since boot (the idle column of /proc/stat, in USER_HZ)."""
    with open("/proc/stat") as handle:
        return int(handle.readline().split()[4]) / 100


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(pipeline: str, passes: int, precision: str) -> None:
    """One process: train the full network pass after pass, one JSON line per pass."""
    import keras
    import tensorflow as tf

    from mnist_cnn.config import Config
    from mnist_cnn.data.dataset import load_dataset, one_hot, to_model_input
    from mnist_cnn.training.fused_norm import build_training_model
    from mnist_cnn.training.input_pipeline import without_autotuning
    from mnist_cnn.training.recipe import compile_model

    keras.mixed_precision.set_global_policy(precision)
    config = Config.from_profile("full", train_limit=IMAGES + 6000)
    keras.utils.set_random_seed(config.seed)
    ds = load_dataset(config)
    x, y = to_model_input(ds.train_x[:IMAGES]), one_hot(ds.train_y[:IMAGES])
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(IMAGES, seed=0).batch(128)
    # "fixed" is what train.make_datasets builds; "autotune" is what it built before
    data = data.prefetch(tf.data.AUTOTUNE) if pipeline == "autotune" else without_autotuning(data)
    model = build_training_model(config)
    compile_model(model, config, steps_per_epoch=IMAGES // 128)
    model.fit(data.take(20), epochs=1, verbose=0)  # compiles the step outside the timed passes
    for index in range(passes):
        idle, cpu, started = idle_seconds(), cpu_seconds(), time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        wall = time.perf_counter() - started
        print(json.dumps({"pipeline": pipeline, "pass": index, "wall": wall,
                          "cpu": cpu_seconds() - cpu, "idle": idle_seconds() - idle}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3,
                        help="fresh processes per pipeline, interleaved (default: %(default)s)")
    parser.add_argument("--passes", type=int, default=5,
                        help="timed passes of 12,800 images per process (default: %(default)s)")
    parser.add_argument("--precision", default="float32",
                        help="Keras dtype policy (default: %(default)s)")
    parser.add_argument("--child", choices=PIPELINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.passes, args.precision)
        return

    from mnist_cnn.training.devices import cpu_description

    print(f"On {cpu_description()}, {args.precision}, {IMAGES} images a pass", flush=True)
    passes: dict[str, list[dict]] = {name: [] for name in PIPELINES}
    for _ in range(args.processes):
        for pipeline in PIPELINES:
            command = [sys.executable, __file__, "--child", pipeline, "--passes", str(args.passes),
                       "--precision", args.precision]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
            passes[pipeline].extend(rows)
            print(f"{pipeline:>8}: " + "  ".join(f"{r['wall']:.2f} s ({r['idle']:.1f} idle)" for r in rows),
                  flush=True)
    print("\npipeline  passes  median s  slow passes (cores idle > 2 s)  median idle s  CPU s a pass")
    for pipeline, rows in passes.items():
        slow = sum(r["idle"] > SLOW_IDLE_SECONDS for r in rows)
        print(f"{pipeline:>8}  {len(rows):>6}  {statistics.median(r['wall'] for r in rows):>8.2f}  "
              f"{slow:>3} of {len(rows):<27}  {statistics.median(r['idle'] for r in rows):>13.2f}  "
              f"{statistics.median(r['cpu'] for r in rows):>12.2f}")


if __name__ == "__main__":
    main()
