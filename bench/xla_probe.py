"""Does XLA pay on a CPU? A profile trained with the step compiled by XLA and without, in one run.

Only a network without augmentation can be compiled at all on TensorFlow (the warp has no XLA
kernel), so of the profiles that is `quick`. Both arms run with determinism off (XLA's condition in
Keras) on the same seeds, alternating, and report training seconds (summed epochs, the first with its
tracing or compilation) and validation accuracy; the test set is not read.

Run: `python bench/xla_probe.py --seeds 1,2 --json bench/results/xla_probe_cpu.json` (add `--isa AVX2`
to compute as an AVX2-only CPU does).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_options import add_kernel_options, apply_kernel_options

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick",
                        help="a profile without augmentation (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the profile's)")
    parser.add_argument("--run-root", type=Path, default=ROOT / "runs" / "xla_probe",
                        help="run directories, started afresh (default: runs/xla_probe)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    add_kernel_options(parser)
    args = parser.parse_args(argv)
    apply_kernel_options(args)

    from mnist_cnn.config import Config
    from mnist_cnn.data.dataset import load_dataset
    from mnist_cnn.training.devices import cpu_description
    from mnist_cnn.training.loop import train
    from mnist_cnn.training.onednn import onednn_state

    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    print(cpu_description(), onednn_state(), flush=True)
    for seed in seeds:
        config = Config.from_profile(args.profile, seed=seed, epochs=args.epochs, data_dir=ROOT / "data",
                                     deterministic=False)
        dataset = load_dataset(config)
        for xla in ("off", "on"):
            settings = config.with_settings([f"xla={xla}", f"run_dir={args.run_root / f'{xla}-{seed}'}"])
            result = train(settings, dataset, fresh=True)
            epochs = result.history["seconds"].tolist()
            rows.append({"seed": seed, "xla": xla, "train_seconds": round(result.train_seconds, 2),
                         "first_epoch_seconds": round(epochs[0], 2),
                         "later_epochs_seconds": round(sum(epochs[1:]), 2),
                         "val_accuracy": float(result.history["val_accuracy"].iloc[-1]),
                         "precision": result.precision})
            print(rows[-1], flush=True)
    summary = {}
    measured = ("train_seconds", "first_epoch_seconds", "later_epochs_seconds", "val_accuracy")
    for xla in ("off", "on"):
        mine = [r for r in rows if r["xla"] == xla]
        summary[xla] = {key: round(sum(r[key] for r in mine) / len(mine), 3) for key in measured}
    summary["on_over_off"] = round(summary["on"]["train_seconds"] / summary["off"]["train_seconds"], 3)
    summary["on_over_off_after_first_epoch"] = round(
        summary["on"]["later_epochs_seconds"] / summary["off"]["later_epochs_seconds"], 3)
    payload = {"profile": args.profile, "seeds": seeds, "cpu": cpu_description(), "onednn": onednn_state(),
               "command": "python bench/xla_probe.py " + " ".join(sys.argv[1:]), "runs": rows,
               "mean": summary}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    return payload


if __name__ == "__main__":
    main()
