"""The training input on TensorFlow: each epoch's order drawn from (seed, epoch), against tf.data's own.

tf.data's `shuffle(reshuffle_each_iteration=True)` restarts its sequence with each new dataset, so a
resumed run saw its first epoch's order again. This times the package's tf.data input (the order
drawn in Python once an epoch), that reshuffling input, and the PyDataset of JAX and PyTorch, on one
profile, seed by seed and interleaved, and compares their later epochs (the first also traces).
Run: `python bench/input_probe.py [--profile quick] [--seeds 1,2,3] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tf_data_pipeline(config, dataset, strategy, first_epoch=0):
    """The tf.data input the package used until it resumed inexactly (a fixed prefetch, no autotune)."""
    import tensorflow as tf

    from mnist_cnn.data.dataset import one_hot, to_model_input
    from mnist_cnn.training.input_pipeline import make_datasets

    _, val, steps = make_datasets(config, dataset, strategy, first_epoch)
    options = tf.data.Options()
    options.autotune.enabled = False
    x, y = to_model_input(dataset.train_x), one_hot(dataset.train_y, config.num_classes)
    train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=config.seed)
             .batch(config.batch_size, drop_remainder=True).prefetch(2).with_options(options))
    train.start_at = lambda epoch: None
    return train, val, steps


def pydataset(config, dataset, strategy, first_epoch=0):
    """The PyDataset JAX and PyTorch train from, on TensorFlow."""
    from mnist_cnn.data.dataset import one_hot, to_model_input
    from mnist_cnn.training.input_pipeline import ShuffledBatches, make_datasets

    _, val, steps = make_datasets(config, dataset, strategy, first_epoch)
    x, y = to_model_input(dataset.train_x), one_hot(dataset.train_y, config.num_classes)
    return ShuffledBatches(x, y, config.batch_size, config.seed, first_epoch=first_epoch), val, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", help="the profile (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    args = parser.parse_args()

    from mnist_cnn.config import Config
    from mnist_cnn.data.dataset import load_dataset
    from mnist_cnn.training import session
    from mnist_cnn.training.devices import cpu_description
    from mnist_cnn.training.input_pipeline import make_datasets
    from mnist_cnn.training.loop import train

    inputs = {"tf.data, seeded per epoch": make_datasets, "tf.data": tf_data_pipeline, "pydataset": pydataset}
    runs: dict[str, list[dict]] = {name: [] for name in inputs}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in (int(s) for s in args.seeds.split(",")):
            config = Config.from_profile(args.profile, seed=seed, data_dir=ROOT / "data")
            data = load_dataset(config)
            for name, make in inputs.items():
                session.make_datasets = make
                config.run_dir = Path(scratch) / f"{name}-{seed}"
                result = train(config, data, fresh=True)
                later = [float(s) for s in result.history["seconds"][1:]]
                runs[name].append({"seed": seed, "later_epoch_seconds": later,
                                   "val_accuracy": float(result.history["val_accuracy"].max())})
                print(f"{name} seed {seed}: later epochs {statistics.mean(later):.2f} s", flush=True)
    means = {name: statistics.mean(s for run in rows for s in run["later_epoch_seconds"])
             for name, rows in runs.items()}
    record = {"cpu": cpu_description(), "profile": args.profile, "runs": runs, "later_epoch_seconds": means,
              "ratio_to_tf_data": {name: mean / means["tf.data"] for name, mean in means.items()}}
    print(f"later epochs against tf.data's: {record['ratio_to_tf_data']}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
