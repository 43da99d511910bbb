"""Which execution settings pay for a float32 training step: each timed in a fresh process.

The same network and data every time (a profile's training model, random images), only how it runs
changes: Keras' batch normalization against the fused one, XLA (`jit_compile=True`), TensorFlow's
oneDNN kernels off (`TF_ENABLE_ONEDNN_OPTS=0`), half and twice the batch, one inter-op thread. Each
setting runs in its own process (the environment variables and thread counts are read once, when
TensorFlow starts), under the ISA cap given (default AVX2: the CPUs most people have), and is
reported in microseconds per image and as a ratio to the profile's own settings in the same run. The
profile's own settings are timed first and again last, and the ratios are to the mean of the two: on a
shared machine the speed drifts between processes by up to a fifth, and a lone reference can mislead.

Run: `python bench/float32_settings.py [--profile quick] [--isa AVX2] [--steps 64] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

SETTINGS: dict[str, dict] = {
    "as the profile runs (fused batch norm)": {},
    "Keras BatchNormalization": {"fused": False},
    "XLA (jit_compile=True)": {"jit": True},
    "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "half the batch": {"batch_factor": 0.5},
    "twice the batch": {"batch_factor": 2.0},
    "one inter-op thread": {"inter_op": 1},
}


def child(setting: dict, profile: str, steps: int) -> dict:
    """Microseconds per image of a training step with `setting`, in this (fresh) process."""
    import tensorflow as tf

    if setting.get("inter_op"):
        tf.config.threading.set_inter_op_parallelism_threads(setting["inter_op"])
    import keras

    # run as a script, this file's folder is on the path: the step is timed as layer_probe times it
    from layer_probe import whole_step_seconds

    from mnist_cnn.config import Config

    keras.mixed_precision.set_global_policy("float32")
    config = Config.from_profile(profile)
    batch = int(config.batch_size * setting.get("batch_factor", 1.0))
    config = config.with_settings([f"batch_size={batch}"])
    seconds = whole_step_seconds(config, fused=setting.get("fused", True), steps=steps,
                                 jit_compile=setting.get("jit", False))
    return {"us_per_image": seconds / batch * 1e6, "batch": batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="the network and batch (default: %(default)s)")
    parser.add_argument("--isa", default="AVX2", help="ONEDNN_MAX_CPU_ISA for every setting; 'none' for "
                        "the CPU's own (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=64,
                        help="timed steps per setting (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child), args.profile, args.steps)))
        return

    from mnist_cnn.training.devices import cpu_description

    base_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.isa.lower() != "none":
        base_env["ONEDNN_MAX_CPU_ISA"] = args.isa.upper()
    # importing the package above made its oneDNN choice in this process's environment; every setting
    # but "oneDNN off" inherits it
    kernels = base_env.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default")
    print(f"On {cpu_description()}; oneDNN capped at {args.isa}; TF_ENABLE_ONEDNN_OPTS {kernels}; float32; "
          f"profile {args.profile}; {args.steps} steps each, microseconds per image")
    results = {}
    reference_name = next(iter(SETTINGS))
    for name, setting in [*SETTINGS.items(), (f"{reference_name}, again", {})]:
        env = {**base_env, **setting.get("env", {})}
        command = [sys.executable, __file__, "--profile", args.profile, "--steps", str(args.steps),
                   "--child", json.dumps(setting)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  {name:<46} batch {results[name]['batch']:4d}  {results[name]['us_per_image']:6.1f}",
              flush=True)
    twice = (results[reference_name], results[f"{reference_name}, again"])
    reference = sum(result["us_per_image"] for result in twice) / 2
    print(f"ratios to the profile's own settings ({reference:.1f}, the mean of its two runs):")
    for name, result in results.items():
        result["ratio"] = round(result["us_per_image"] / reference, 2)
        print(f"  {name:<46} {result['ratio']:.2f}")
    if args.json:
        record = {"cpu": cpu_description(), "isa_cap": args.isa, "tf_enable_onednn_opts": kernels,
                  "precision": "float32",
                  "profile": args.profile, "steps": args.steps, "settings": results}
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
