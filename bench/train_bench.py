"""Time-to-accuracy, side by side in one run: this project's profiles against the peer recipes.

Trains, on the embedded data and the same machine, one after another:
- keras-io "Simple MNIST convnet": its architecture and recipe (Adam, batch 128, 15 epochs,
  validation_split=0.1, float32), the first peer;
- the `original` profile: the original project's recipe as written (float32, no project tricks),
  the second peer;
- this project's `quick` and `full` profiles, with the precision `auto` picks on this machine.
`full` runs once per seed in --seeds (the target is stated as a mean over seeds 1, 2 and 3); every
other recipe runs once, with the first seed, unless --seeded names it too. It prints the CPU (or
GPU), each epoch's seconds, train seconds (inside fit) and test accuracy for each run, and the ratios
the targets are stated in.

Run: `python bench/train_bench.py [--only quick,keras-io] [--seeds 1,2,3] [--seeded quick,full]
[--set epochs=3] [--isa AVX2] [--onednn off] [--precision float32] [--backend jax] [--json out.json]`.
`--backend` trains every recipe on Keras' JAX or PyTorch backend (run with that environment's
interpreter, e.g. .runtimes/backends/jax/bin/python); the oneDNN options concern TensorFlow only. `--isa AVX2`
holds oneDNN to AVX2 (ONEDNN_MAX_CPU_ISA), so an AVX-512 machine computes as most people's CPUs do;
`--onednn off` runs every recipe on Eigen's kernels, as TensorFlow does by default on CPUs without
AVX512-VNNI, AVX512-BF16 or AMX (the package turns oneDNN's on: training/onednn.py). The cap, the
kernels, the precision and why each was chosen are printed and written to the JSON.

A candidate chosen on validation is read against `full` in one run: `--only full,candidate --seeded
full,candidate --candidate "standardize=true epochs=24" --interleave` trains both for every seed,
alternating, and prints the candidate's time as a share of `full`'s.

A choice between settings is made on validation alone: `--only full --search learning_rate=3e-3,5e-3`
trains each value once per seed and ranks them by mean validation accuracy, never reading the test
set; the chosen setting is then benched as above, which reads the test set once per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Keras chooses its backend once, when it is imported: --backend goes into the environment first
if "--backend" in sys.argv[:-1]:
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]

import keras

# run as scripts, this file's folder is on the path: its siblings import as modules
from bench_runs import keras_io_recipe, print_search, profile_run, search
from kernel_options import add_kernel_options, apply_kernel_options

from mnist_cnn.pipeline import library_versions
from mnist_cnn.training.devices import (
    choose_precision,
    cpu_description,
    device_description,
    isa_cap,
)
from mnist_cnn.training.onednn import describe_onednn, onednn_state

MULTI_SEED = ("full", "ensemble")  # the recipes whose target is a mean over seeds: --seeded's default


def _validation_text(run: dict) -> str:
    if "best_val_accuracy" not in run:
        return ""
    return f" (validation {run['best_val_accuracy']:.4f} at epoch {run['best_epoch']})"


RECIPES = {
    "keras-io": keras_io_recipe,
    "original": lambda seed, settings: profile_run("original", seed, []),
    "quick": lambda seed, settings: profile_run("quick", seed, settings),
    "full": lambda seed, settings: profile_run("full", seed, settings),
    # three `full` networks averaged; with seed s its members train with seeds s, s + 1, s + 2
    "ensemble": lambda seed, settings: profile_run("full", seed, ["members=3", *settings]),
}
DEFAULT_RECIPES = ("keras-io", "original", "quick", "full")  # the ensemble on request: nine trainings
PEERS = ("keras-io", "original")  # as written: their users get TensorFlow's default kernels


def check_backend(name: str | None) -> None:
    """Stop with one line where Keras does not run on `name` (set before it was imported, above):
    the interpreter lacks that backend."""
    if name is not None and keras.backend.backend() != name:
        sys.exit(f"--backend {name}: Keras runs on {keras.backend.backend()}; {name} is not installed "
                 f"for {sys.executable}: run with .runtimes/backends/{name}/bin/python (make "
                 "test-backends builds it)")


def jobs(only: list[str], seeded: list[str], seeds: list[int], interleave: bool) -> list[tuple[str, int]]:
    """The (recipe, seed) trainings in the order they run: recipe by recipe, or with `interleave` seed
    by seed (every recipe's seed 1, then every recipe's seed 2, ...), so that a machine that speeds up
    or slows down during the run weighs on every recipe alike."""
    wanted = [(name, seed) for name in only for seed in (seeds if name in seeded else seeds[:1])]
    if interleave:
        wanted.sort(key=lambda job: seeds.index(job[1]))  # stable: the recipes keep their order
    return wanted


def peer_in_child(name: str, seeds: list[int], onednn: str) -> tuple[dict[int, dict], dict]:
    """Run the peer `name` in a fresh process with oneDNN's kernels `onednn` ("on" or "off"): the
    kernels are chosen once per process, when TensorFlow loads. Its runs by seed, and its kernels."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "peer.json"
        command = [sys.executable, __file__, "--only", name, "--seeded", name,
                   "--seeds", ",".join(str(seed) for seed in seeds), "--onednn", onednn, "--json", str(out)]
        subprocess.run(command, check=True)  # the ISA cap, if any, is in the inherited environment
        payload = json.loads(out.read_text())
    runs = {int(seed): run for seed, run in payload["runs"][name].items()}
    return runs, payload["execution"]["onednn_kernels"]


def summarise(runs: dict[int, dict]) -> dict:
    """Mean train seconds and accuracy over a recipe's seeds, with the lowest accuracy."""
    accuracies = [r["test_accuracy"] for r in runs.values()]
    out = {
        "train_seconds": round(statistics.mean(r["train_seconds"] for r in runs.values()), 1),
        "test_accuracy": statistics.mean(accuracies),
        "lowest_accuracy": min(accuracies),
        "seeds": sorted(runs),
    }
    if all("best_val_accuracy" in r for r in runs.values()):
        out["val_accuracy"] = statistics.mean(r["best_val_accuracy"] for r in runs.values())
    members = [m["test_accuracy"] for r in runs.values() for m in r.get("members", [])]
    if members and None not in members:  # an ensemble's networks, each alone
        out["members_test_accuracy"] = statistics.mean(members)
    return out


def epoch_line(seconds: list[float]) -> str:
    """Each epoch's seconds, and the median: a slow mode shows as a run of outliers."""
    return f"median {statistics.median(seconds):.1f} s: " + " ".join(f"{s:.1f}" for s in seconds)


def ratio_lines(summary: dict[str, dict]) -> list[str]:
    """The two time ratios the targets are stated in, with the accuracy they came with."""
    lines = []
    if "quick" in summary and "keras-io" in summary:
        ratio = summary["quick"]["train_seconds"] / summary["keras-io"]["train_seconds"]
        lines.append(f"quick: {ratio:.3f} of keras-io's time (target <= 0.15), "
                     f"{summary['quick']['test_accuracy']:.2%} (target >= 99.30 %)")
    if "full" in summary and "original" in summary:
        full = summary["full"]
        ratio = full["train_seconds"] / summary["original"]["train_seconds"]
        lines.append(f"full: {ratio:.3f} of the original's time (target <= 0.5), mean "
                     f"{full['test_accuracy']:.2%} over seeds {full['seeds']} (targets >= 99.69 %, issue 25; "
                     f">= 99.65 % in float32 without AVX-512, issue 24), "
                     f"lowest {full['lowest_accuracy']:.2%}")
    if "candidate" in summary and "full" in summary:
        candidate = summary["candidate"]
        ratio = candidate["train_seconds"] / summary["full"]["train_seconds"]
        lines.append(f"candidate: {ratio:.3f} of full's time in this run (target <= 1.5, issue 40), mean "
                     f"{candidate['test_accuracy']:.2%} over seeds {candidate['seeds']} against full's "
                     f"{summary['full']['test_accuracy']:.2%} (target >= 99.70 %)")
    if "ensemble" in summary and "original" in summary:
        ensemble = summary["ensemble"]
        ratio = ensemble["train_seconds"] / summary["original"]["train_seconds"]
        lines.append(f"ensemble: {ratio:.3f} of the original's time (target <= 3), mean "
                     f"{ensemble['test_accuracy']:.2%} over seeds {ensemble['seeds']} (target >= 99.78 %)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_RECIPES),
        help="comma-separated recipes to run (default: %(default)s)",
    )
    parser.add_argument(
        "--seeds",
        default="1,2,3",
        help="seeds of the --seeded recipes; the other recipes use the first (default: %(default)s)",
    )
    parser.add_argument(
        "--seeded",
        default=",".join(MULTI_SEED),
        help="comma-separated recipes to run once per seed in --seeds, to compare a candidate over "
        "seeds (default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting of the quick and full profiles, to try a candidate; the peers stay as "
        "written (default: none)",
    )
    parser.add_argument(
        "--search",
        default=None,
        metavar="KEY=V1,V2,...",
        help="instead of the comparison, train each value of KEY for every seed in --seeds with the "
        "first recipe in --only, and rank the values by validation accuracy without reading the test "
        "set; a list setting's values are separated by ';' (conv_filters=16,64;32,64) (default: none)",
    )
    parser.add_argument(
        "--candidate",
        default=None,
        metavar="'KEY=VALUE ...'",
        help="add the recipe 'candidate': full with these settings on top of --set, to compare with "
        "full in one run (--only full,candidate --seeded full,candidate) (default: none)",
    )
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="train seed by seed, every recipe's first seed before any recipe's second, so that drift "
        "in the machine's speed weighs on every recipe alike (default: recipe by recipe)",
    )
    add_kernel_options(parser)
    parser.add_argument(
        "--backend",
        default=None,
        choices=("tensorflow", "jax", "torch"),
        help="Keras' backend for every recipe, the peers included (KERAS_BACKEND, set before Keras "
        "loads); the interpreter must have it (make test-backends builds .runtimes/backends/jax and torch) "
        "(default: KERAS_BACKEND's, else TensorFlow)",
    )
    parser.add_argument(
        "--peers-onednn",
        default="same",
        choices=("same", "on", "off"),
        help="oneDNN's kernels for the peers (keras-io, original): same as --onednn, in this process, or "
        "on / off in a process of their own; off runs them as TensorFlow does by default on CPUs "
        "without AVX512-VNNI, AVX512-BF16 or AMX (default: %(default)s)",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        help="the precision of the quick, full and search runs: auto, float32 or mixed_bfloat16; the "
        "peers keep theirs (float32) (default: %(default)s)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="also write the results here as JSON (default: none)",
    )
    args = parser.parse_args()
    check_backend(args.backend)
    apply_kernel_options(args)
    if args.precision != "auto":
        args.set = [f"precision={args.precision}", *args.set]
    seeds = [int(s) for s in args.seeds.split(",")]
    only, seeded = args.only.split(","), args.seeded.split(",")
    unknown = sorted(set(only + seeded) - set(RECIPES) - ({"candidate"} if args.candidate else set()))
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    policy, reason = choose_precision(args.precision, "auto")
    print(f"On {device_description()}: {cpu_description()}; Keras on {keras.backend.backend()}; precision "
          f"{args.precision!r} gives {policy} here ({reason})", flush=True)
    kernels = onednn_state()
    print(f"oneDNN's CPU kernels: {describe_onednn(kernels)}", flush=True)
    execution = {"backend": keras.backend.backend(), "isa_cap": isa_cap(),
                 "precision_setting": args.precision, "precision": policy, "precision_reason": reason,
                 "onednn_kernels": kernels}
    if args.search:
        if only[0] not in ("quick", "full"):
            parser.error("--search tries settings of the quick or full profile: pass --only quick or full")
        key, _, values = args.search.partition("=")
        # a list-valued setting's candidates are separated by ";": conv_filters=16,64;32,64
        result = search(only[0], key, values.split(";" if ";" in values else ","), seeds, args.set)
        print_search(result)
        if args.json:
            payload = {"device": device_description(), "cpu": cpu_description(), "settings": args.set,
                       "execution": execution, "versions": library_versions(), "search": result}
            args.json.write_text(json.dumps(payload, indent=2))
        return

    recipes = dict(RECIPES)
    if args.candidate:  # `full` with the candidate's settings on top of --set
        extra = args.candidate.split()
        recipes["candidate"] = lambda seed, settings: profile_run("full", seed, [*settings, *extra])
    runs: dict[str, dict[int, dict]] = {}
    for name in only:
        if name in PEERS and args.peers_onednn != "same":
            print(f"training {name} in a process with oneDNN's kernels {args.peers_onednn} ...", flush=True)
            runs[name], execution.setdefault("peers_onednn_kernels", {})[name] = peer_in_child(
                name, seeds if name in seeded else seeds[:1], args.peers_onednn)
    for name, seed in jobs(only, seeded, seeds, args.interleave):
        if name in runs and seed in runs[name]:
            continue  # a peer already trained in its own process
        print(f"training {name}, seed {seed} ...", flush=True)
        r = recipes[name](seed, args.set)
        runs.setdefault(name, {})[seed] = r
        print(f"  {name} seed {seed}: {r['train_seconds']:.1f} s, test accuracy "
              f"{r['test_accuracy']:.4f}{_validation_text(r)}, {r['epochs']} epochs, {r['precision']}; "
              f"epoch seconds {epoch_line(r['epoch_seconds'])}", flush=True)

    summary = {name: summarise(by_seed) for name, by_seed in runs.items()}
    print(f"\nOn {device_description()}: {cpu_description()}:")
    print(f"{'recipe':<10} {'seeds':<8} {'train s':>9} {'test acc':>9} {'lowest':>8} {'val acc':>8}")
    for name, s in summary.items():
        seeds_text = ",".join(str(seed) for seed in s["seeds"])
        print(f"{name:<10} {seeds_text:<8} {s['train_seconds']:>9.1f} {s['test_accuracy']:>9.4f} "
              f"{s['lowest_accuracy']:>8.4f} {s.get('val_accuracy', float('nan')):>8.4f}")
    for line in ratio_lines(summary):
        print(line)
    if args.json:
        payload = {
            "device": device_description(),
            "cpu": cpu_description(),
            "settings": args.set,
            "execution": execution,
            "versions": library_versions(),
            "summary": summary,
            "runs": {name: {str(seed): r for seed, r in by_seed.items()} for name, by_seed in runs.items()},
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
