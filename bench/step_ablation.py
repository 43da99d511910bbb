"""Where a whole training step's time goes, by subtraction: the step with one part of the network made
lighter, against the profile's own step, in one process.

layer_probe.py times each piece on its own, the first convolution with its input's gradient, which
training never computes, and a 20-step whole step that cannot tell two networks apart. This times the
profile's real training step (fused batch norm, its batch and steps per call, random images) over
many steps, and the same step without batch normalization, with half the filters in either block and
with a quarter of the dense units. The difference to the profile's step is what that part costs (an
upper bound for the halved ones, whose remaining half still runs). The variants take turns over
several rounds and each reports its median, since a process's speed drifts.

Run: `python bench/step_ablation.py [--profile quick] [--steps 160] [--rounds 3] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import keras

from mnist_cnn.config import Config
from mnist_cnn.training.devices import choose_precision, cpu_description


def variants(config: Config) -> dict[str, list[str]]:
    """Each lighter network as `--set` assignments on the profile."""
    first, *rest = config.conv_filters
    halved_first = ",".join(str(f) for f in (max(1, first // 2), *rest))
    halved_last = ",".join(str(f) for f in (first, *rest[:-1], max(1, rest[-1] // 2))) if rest else None
    quarter_dense = max(1, config.dense_units // 4)
    found = {
        "the profile's own step": [],
        "no batch normalization": ["batch_norm=false"],
        f"first block's filters halved ({halved_first})": [f"conv_filters={halved_first}"],
        f"a quarter of the dense units ({quarter_dense})": [f"dense_units={quarter_dense}"],
    }
    if halved_last:
        found[f"last block's filters halved ({halved_last})"] = [f"conv_filters={halved_last}"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="the network to take apart (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=160,
                        help="timed steps per reading (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="readings of each variant, taken in turns (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    args = parser.parse_args()
    # run as a script, this file's folder is on the path: the step is timed as layer_probe times it
    from layer_probe import whole_step_seconds

    config = Config.from_profile(args.profile)
    policy, reason = choose_precision(config.precision, config.device)
    keras.mixed_precision.set_global_policy(policy)
    print(f"On {cpu_description()}; {policy} ({reason}); profile {args.profile}, batch {config.batch_size}, "
          f"{args.steps} steps a reading, {args.rounds} rounds; ms per training step")
    lighter = variants(config)
    configs = {name: config.with_settings(settings) for name, settings in lighter.items()}
    readings: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, variant in configs.items():
            readings[name].append(whole_step_seconds(variant, fused=True, steps=args.steps) * 1000)
    own = statistics.median(readings["the profile's own step"])
    medians = {name: round(statistics.median(values), 1) for name, values in readings.items()}
    for name, median in medians.items():
        spread = f"{min(readings[name]):.1f}-{max(readings[name]):.1f}"
        print(f"  {name:<45} {median:7.1f} ms ({spread}), saves {own - median:+6.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({
            "cpu": cpu_description(), "precision": policy, "precision_reason": reason,
            "profile": args.profile, "batch": config.batch_size, "steps": args.steps,
            "variants": lighter, "median_ms": medians,
            "readings_ms": {name: [round(v, 1) for v in values] for name, values in readings.items()},
        }, indent=2))


if __name__ == "__main__":
    main()
