"""Robustness of each recipe: clean test accuracy beside the accuracy under MNIST-C's 15 corruptions.

Each --profile trains once (seed --seed) through `mnist_cnn.pipeline.run`, as `mnist-cnn train` does,
into a scratch folder (never the repository's models/ or figures/), and the record keeps its clean test
accuracy, its accuracy under each corruption of the test set (the corruptions' fixed seed, as in
metrics.json) and their mean, with the CPU and the library versions. The record is rewritten after each
profile, so a run cut short keeps the profiles it finished.

Run: `python bench/robustness.py [--profile full --profile quick --profile original] [--seed 1]
[--json bench/results/robustness_<cpu>.json] [--scratch DIR]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_tag() -> str:
    """A short name for this CPU's kind, for the record's file name."""
    from mnist_cnn.training.devices import cpu_flags

    flags = cpu_flags()
    kinds = (("amx_tile", "amx"), ("avx512_bf16", "bf16"), ("avx512f", "avx512"), ("avx2", "avx2"))
    return next((tag for flag, tag in kinds if flag in flags), "cpu")


def scratch_config(profile: str, seed: int, folder: Path):
    """`profile`'s Config with the repository's data, writing only under `folder` (never models/)."""
    from mnist_cnn.config import Config

    return Config.from_profile(profile, seed=seed, data_dir=ROOT / "data", run_dir=folder / "run",
                               models_dir=folder / "models", figures_dir=folder / "figures")


def main() -> None:
    from mnist_cnn import pipeline
    from mnist_cnn.config import PROFILES
    from mnist_cnn.training.devices import cpu_description

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="append", choices=list(PROFILES),
                        help="a recipe to train and score; repeatable (default: full, quick, original)")
    parser.add_argument("--seed", type=int, default=1, help="training seed (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="the record (default: bench/results/robustness_<cpu>.json)")
    parser.add_argument("--scratch", type=Path, help="where the runs write (default: a temporary folder)")
    args = parser.parse_args()
    target = args.json or ROOT / "bench" / "results" / f"robustness_{cpu_tag()}.json"
    record = {"cpu": cpu_description(), "seed": args.seed, "versions": pipeline.library_versions(),
              "profiles": {}}
    with tempfile.TemporaryDirectory() as temporary:
        scratch = args.scratch or Path(temporary)
        for profile in args.profile or ["full", "quick", "original"]:
            folder = scratch / profile
            config = scratch_config(profile, args.seed, folder)
            run = pipeline.run(config, report=print, fresh=True)
            metrics = run.metrics
            record["corruption_seed"] = metrics["corruption_seed"]
            record["profiles"][profile] = {
                "epochs_run": run.result.epochs_run, "train_seconds": round(run.result.train_seconds, 1),
                **{key: metrics[key] for key in ("test_accuracy", "corruption_mean", "corruptions")}}
            print(f"{profile}: clean {metrics['test_accuracy']:.2%}, corruptions' mean "
                  f"{metrics['corruption_mean']:.2%}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
