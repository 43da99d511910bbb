"""A candidate's robustness read on validation only: MNIST-C's 15 corruptions of the validation split.

Each seed trains `--profile` and, beside it, the profile with the `--set` settings (the candidate),
through `training.loop.train` as `mnist-cnn train` does, in a scratch folder. Both are scored on the
validation split, clean and under each corruption (the corruptions' fixed seed); the test split is
never scored. The record keeps each run and, per arm, the mean and spread over seeds, rewritten after
each run so a run cut short keeps what it finished.

Run: `python bench/robustness_validation.py --set standardize=true [--profile full] [--seeds 1 2 3]
[--json bench/results/robustness_validation_<settings>_<cpu>.json] [--scratch DIR]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from robustness import ROOT, cpu_tag, scratch_config

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--profile", default="full", help="the profile both arms start from (default: full)")
parser.add_argument("--set", dest="settings", action="append", required=True,
                    help="a candidate's setting, key=value, repeatable (required)")
parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="training seeds (default: 1 2 3)")
parser.add_argument("--json", type=Path, help="the record (default: bench/results/"
                    "robustness_validation_<settings>_<cpu>.json)")
parser.add_argument("--scratch", type=Path, help="where the runs write (default: a temporary folder)")


def summary(runs: list[dict]) -> dict:
    """Mean and sample standard deviation over seeds of clean and corrupted validation accuracy."""
    out = {"seeds": [run["seed"] for run in runs]}
    for key in ("val_accuracy", "corruption_mean"):
        values = [run[key] for run in runs]
        out[key] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    names = runs[0]["corruptions"]
    out["corruptions"] = {name: statistics.fmean(run["corruptions"][name] for run in runs) for name in names}
    return out


def main() -> None:
    from mnist_cnn import pipeline
    from mnist_cnn.evaluation.corruptions import corruption_record
    from mnist_cnn.evaluation.metrics import predict_probabilities
    from mnist_cnn.training.devices import cpu_description
    from mnist_cnn.training.loop import train

    args = parser.parse_args()
    slug = "_".join(s.replace("=", "-") for s in args.settings)
    target = args.json or ROOT / "bench" / "results" / f"robustness_validation_{slug}_{cpu_tag()}.json"
    arms = {args.profile: [], f"{args.profile} + {', '.join(args.settings)}": args.settings}
    record = {"cpu": cpu_description(), "profile": args.profile, "candidate": args.settings,
              "split": "validation (the test split is never scored)",
              "versions": pipeline.library_versions(), "runs": {}, "summary": {}}
    with tempfile.TemporaryDirectory() as temporary:
        scratch = args.scratch or Path(temporary)
        for seed in args.seeds:  # interleaved: both arms of a seed see the machine in the same state
            for arm, settings in arms.items():
                folder = scratch / f"{'candidate' if settings else 'profile'}-{seed}"
                config = scratch_config(args.profile, seed, folder).with_settings(settings)
                dataset = pipeline.load(config).dataset
                result = train(config, dataset, report=print, fresh=True)
                clean = predict_probabilities(result.model, dataset.val_x).argmax(axis=1) == dataset.val_y
                scored = corruption_record(result.model, dataset.val_x, dataset.val_y)
                run = {"seed": seed, "epochs_run": result.epochs_run,
                       "train_seconds": round(result.train_seconds, 1), "val_accuracy": float(clean.mean()),
                       "corruption_mean": scored["corruption_mean"], "corruptions": scored["corruptions"]}
                record["corruption_seed"] = scored["corruption_seed"]
                record["runs"].setdefault(arm, []).append(run)
                record["summary"][arm] = summary(record["runs"][arm])
                print(f"{arm}, seed {seed}: validation {run['val_accuracy']:.2%}, corruptions' mean "
                      f"{run['corruption_mean']:.2%}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
