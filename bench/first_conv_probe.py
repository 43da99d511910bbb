"""Less work in the first block: does a strided or a 5x5 first convolution hold a profile's accuracy?

Each `--variant KxK/S` replaces the network's first convolution by a K x K one with stride S; with a
stride of 2 that block skips its max-pooling (the stride has already halved the map), so the layers
after it see a map of about the same size. `3x3/1` is the profile's own network. Every variant trains
with seeds --seeds, each on its own seed's split, one after another in this process, and is scored
on validation only (the test set is not read): the validation accuracy its kept epoch was chosen on,
its training seconds, and its training work (multiply-adds per image times the images it saw).

The variant networks live here, not in the package: a variant that earns its place becomes a setting
of `model.fast_network` and the notebook's; until then it is a probe.

Run: `python bench/first_conv_probe.py [--profile quick] [--seeds 1,2,3] [--variant 3x3/1 --variant
3x3/2 --variant 5x5/2] [--isa AVX2] [--set precision=float32] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from pathlib import Path

# run as a script, this file's folder is on the path
from kernel_options import add_kernel_options, apply_kernel_options

ROOT = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[int, int]:
    """`KxK/S` -> (kernel, stride)."""
    match = re.fullmatch(r"(\d)x\1/([12])", text)
    if not match:
        raise argparse.ArgumentTypeError(f"--variant {text!r}: expected KxK/S, e.g. 3x3/2 or 5x5/2")
    return int(match.group(1)), int(match.group(2))


def mean_or_none(values: list[float]) -> float | None:
    """The mean to 3 places, or None for no values (a one-epoch run has no later epochs)."""
    return round(statistics.mean(values), 3) if values else None


def variant_network(kernel: int, stride: int):
    """The profile's fast network with its first convolution K x K, stride S (and no max-pool in the
    first block when S is 2), as a `network(config)` builder."""
    import keras
    from keras import layers

    def network(config):
        inputs = keras.Input(shape=(28, 28, 1), name="image")
        x = inputs
        if config.standardize:  # as the package's network does
            x = layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False)(x)
        blocks = zip(config.conv_filters, config.convs_per_block, strict=True)
        for block, (filters, convs) in enumerate(blocks):
            for index in range(convs):
                first = block == 0 and index == 0
                x = layers.Conv2D(filters, kernel if first else 3, strides=stride if first else 1,
                                  padding=config.padding, use_bias=not config.batch_norm)(x)
                if index == convs - 1 and not (block == 0 and stride == 2):
                    x = layers.MaxPooling2D()(x)
                if config.batch_norm:
                    x = layers.BatchNormalization(momentum=0.9)(x)
                x = layers.Activation("relu")(x)
        x = layers.Flatten()(x)
        if config.dense_units:
            x = layers.Dropout(config.dropout)(x)
            x = layers.Dense(config.dense_units, use_bias=not config.batch_norm)(x)
            if config.batch_norm:
                x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        logits = layers.Dense(config.num_classes, name="logits")(layers.Dropout(config.dropout)(x))
        outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
        return keras.Model(inputs, outputs, name=f"mnist_cnn_{config.architecture}")

    return network


def train_variant(config, data, network):
    """The package's training loop (training/loop.py) with `network` in place of the profile's."""
    from mnist_cnn.model import build_augmentation
    from mnist_cnn.training.recipe import compile_network, recipe_callbacks
    from mnist_cnn.training.session import TrainingSession

    with TrainingSession(config, data, fresh=True) as session:
        model = session.training_model(network, build_augmentation)
        compile_network(model, session.config, session.learning_rate, **session.execution)
        session.resume(model)
        model.fit(session.train_data, validation_data=session.val_data, epochs=config.epochs,
                  initial_epoch=session.initial_epoch, shuffle=False, verbose=0,
                  callbacks=session.callbacks(
                      recipe_callbacks(config, session.best_path, session.best_so_far)))
    return session.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "full"),
                        help="the profile to vary: one of this project's networks (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--variant", type=parse_variant, action="append", default=None,
                        help="KxK/S, repeat for each (default: 3x3/1, 3x3/2, 5x5/2)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting changed for every variant (default: none)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data",
                        help="the CSVs (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    add_kernel_options(parser)
    args = parser.parse_args()
    apply_kernel_options(args)

    from mnist_cnn.config import Config
    from mnist_cnn.data.dataset import load_dataset
    from mnist_cnn.training.devices import cpu_description, isa_cap
    from mnist_cnn.training.work import training_work

    variants = args.variant or [(3, 1), (3, 2), (5, 2)]
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"On {cpu_description()}; profile {args.profile} "
          f"{' '.join(args.set)}; validation only", flush=True)
    record = {"cpu": cpu_description(), "isa_cap": isa_cap(), "profile": args.profile,
              "settings": args.set, "seeds": seeds, "variants": {}}
    configs = {seed: Config.from_profile(args.profile, seed=seed, data_dir=args.data_dir)
               .with_settings(args.set) for seed in seeds}
    # each seed's split, loaded once for every variant
    splits = {seed: load_dataset(config) for seed, config in configs.items()}
    with tempfile.TemporaryDirectory() as scratch:
        for kernel, stride in variants:
            name = f"{kernel}x{kernel}/{stride}"
            network = variant_network(kernel, stride)
            runs = {}
            for seed in seeds:
                config, data = configs[seed], splits[seed]
                config.run_dir = Path(scratch) / f"{kernel}-{stride}-{seed}"
                result = train_variant(config, data, network)
                val_accuracy = float(result.history["val_accuracy"].iloc[result.best_epoch - 1])
                runs[seed] = {"val_accuracy": val_accuracy, "best_epoch": result.best_epoch,
                              "train_seconds": round(result.train_seconds, 2),
                              "epoch_seconds": [round(s, 2) for s in result.history["seconds"]],
                              "work": training_work(result.model, len(data.train_x), config.batch_size,
                                                    result.epochs_run),
                              "precision": result.precision}
                print(f"  {name} seed {seed}: validation {val_accuracy:.2%} (epoch "
                      f"{result.best_epoch}), {result.train_seconds:.1f} s", flush=True)
            accuracies = [r["val_accuracy"] for r in runs.values()]
            record["variants"][name] = {
                "multiply_adds_per_image": runs[seeds[0]]["work"]["multiply_adds_per_image"],
                "val_accuracy": statistics.mean(accuracies),
                "val_spread": statistics.pstdev(accuracies),
                "train_seconds": round(statistics.mean(r["train_seconds"] for r in runs.values()), 2),
                # the first epoch also traces the step: the later ones compare the networks
                "later_epoch_seconds": mean_or_none(
                    [s for r in runs.values() for s in r["epoch_seconds"][1:]]),
                "runs": runs,
            }
            row = record["variants"][name]
            print(f"{name}: validation {row['val_accuracy']:.2%} mean over seeds {args.seeds}, "
                  f"{row['train_seconds']:.1f} s, later epochs {row['later_epoch_seconds']} s each, "
                  f"{row['multiply_adds_per_image']:,} multiply-adds per image", flush=True)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
