"""Which members make the better ensemble, judged on validation: more networks of one recipe, fewer of a
stronger one, or a mix of recipes?

Each `--group` is a number of members and the settings they differ by from the profile, e.g. `3` (three
`full` networks) or `"5 convs_per_block=1,2"` (five lighter ones). Every group trains (or resumes) its
members with seeds --seed, --seed + 1, ... on the one split of --seed, each in its own run directory
under --run-root, so a cut-off probe resumes where it stopped and a second probe reuses finished
members. Then each member's logits on the validation split score every member alone, the first k
members of each group (k = 1 .. N), each pair of whole groups and all of them together: validation
errors and the training seconds they cost. The test set is not scored: this chooses a recipe, and
the chosen one is measured on test by train_bench.py.

Run: `python bench/ensemble_probe.py --group 3 --group "5 convs_per_block=1,2" --seed 1
--run-root runs/ensemble_probe --json out.json`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import load_dataset, to_model_input
from mnist_cnn.model import LOGITS
from mnist_cnn.training.devices import cpu_description
from mnist_cnn.training.loop import train
from mnist_cnn.training.onednn import describe_onednn, onednn_state
from mnist_cnn.training.work import training_work

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Group:
    """Members of one recipe: how many, the settings they change, and the label they are shown by."""

    members: int
    settings: list[str]

    @property
    def label(self) -> str:
        return " ".join(self.settings) or "as the profile"

    @property
    def slug(self) -> str:
        return re.sub(r"[^\w,.=-]+", "_", "_".join(self.settings)) or "profile"


def parse_group(text: str) -> Group:
    """`N [KEY=VALUE ...]`: N members with those settings."""
    count, *settings = text.split()
    if not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(
            f"--group {text!r}: expected a member count first, e.g. '3 epochs=20'")
    return Group(int(count), settings)


def member_logits(classifier, images: np.ndarray) -> np.ndarray:
    """The classifier's logits (before the softmax) for uint8 images."""
    import keras

    logits = keras.Model(classifier.inputs, classifier.get_layer(LOGITS).output)
    return np.asarray(logits.predict(to_model_input(images), batch_size=1000, verbose=0), dtype=np.float64)


def score(logits: list[np.ndarray], labels: np.ndarray) -> dict:
    """Errors and accuracy of the members' averaged logits, and which images were wrong."""
    wrong = np.flatnonzero(np.mean(logits, axis=0).argmax(axis=1) != labels)
    return {"errors": len(wrong), "accuracy": 1 - len(wrong) / len(labels), "wrong": wrong.tolist()}


def mixes(groups: list[dict]) -> list[dict]:
    """The ensembles worth comparing: each group's first k members, and for each pair of groups the
    first i of one with the first j of the other (every i, j from 1), so that mixes of equal training
    time can be read side by side; all groups together when there are more than two.

    `groups` holds, per group, its label and its members as (name, logits, train seconds).
    """
    chosen = []
    for group in groups:
        for k in range(1, len(group["members"]) + 1):
            chosen.append((f"{group['label']}: first {k}", group["members"][:k]))
    for one, other in itertools.combinations(groups, 2):
        for i, j in itertools.product(range(1, len(one["members"]) + 1), range(1, len(other["members"]) + 1)):
            chosen.append((f"{one['label']}: {i} + {other['label']}: {j}",
                           one["members"][:i] + other["members"][:j]))
    if len(groups) > 2:
        chosen.append(("all groups", [m for g in groups for m in g["members"]]))
    return [{"name": name, "members": [m[0] for m in members],
             "train_seconds": round(sum(m[2] for m in members), 1), "logits": [m[1] for m in members]}
            for name, members in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=parse_group, action="append", required=True,
                        help="'N [KEY=VALUE ...]': N members of the profile with those settings; repeat for "
                             "each group (no default)")
    parser.add_argument("--profile", default="full",
                        help="the profile every group starts from (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1,
                        help="the split's seed and the first member's; member k has seed + k - 1 "
                             "(default: %(default)s)")
    parser.add_argument("--run-root", type=Path, default=ROOT / "runs" / "ensemble_probe",
                        help="where each group's members keep their run directories (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data",
                        help="the CSVs (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here (default: none)")
    args = parser.parse_args()
    slugs = [group.slug for group in args.group]
    if len(set(slugs)) < len(slugs):
        parser.error("two --group values have the same settings: they would share their members")

    base = Config.from_profile(args.profile, seed=args.seed, data_dir=args.data_dir)
    data = load_dataset(base)
    print(f"On {cpu_description()}; oneDNN's CPU kernels: {describe_onednn(onednn_state())}; profile "
          f"{args.profile}, the split of seed {args.seed} ({len(data.val_y):,} validation images; the "
          "test set is not scored)",
          flush=True)
    trained = []
    for group in args.group:
        config = base.with_settings([*group.settings, f"members={group.members}"])
        config.run_dir = args.run_root / f"{args.profile}-{group.slug}"
        print(f"\n{group.members} members, {group.label} (in {config.run_dir})", flush=True)
        result = train(config, data, report=lambda line: print("  " + line, flush=True))
        networks = result.members or [result]  # a group of one trains as a single network
        members = [(f"{group.label} #{k}", member_logits(m.model, data.val_x), m.train_seconds)
                   for k, m in enumerate(networks, start=1)]
        trained.append({"label": group.label, "members": members, "first_seed": config.seed,
                        "results": networks, "batch_size": config.batch_size})

    print(f"\nvalidation errors of {len(data.val_y):,}:")
    record = {"cpu": cpu_description(), "onednn_kernels": onednn_state(), "profile": args.profile,
              "seed": args.seed, "validation_images": len(data.val_y), "groups": [], "mixes": []}
    for group in trained:
        rows = []
        pairs = zip(group["members"], group["results"], strict=True)
        for index, ((name, logits, seconds), result) in enumerate(pairs):
            row = {"name": name, "seed": group["first_seed"] + index,
                   "best_epoch": result.best_epoch, "epochs_run": result.epochs_run,
                   "train_seconds": round(seconds, 1), **score([logits], data.val_y),
                   "work": training_work(result.model, len(data.train_x), group["batch_size"],
                                         result.epochs_run)}
            rows.append(row)
            print(f"  {name:<40} seed {row['seed']}: {row['errors']:3d} errors ({row['accuracy']:.2%}), "
                  f"best epoch {row['best_epoch']}, {seconds:.1f} s")
        every = [set(r["wrong"]) for r in rows]
        record["groups"].append({"label": group["label"], "members": rows,
                                 "wrong_in_every_member": len(set.intersection(*every)),
                                 "wrong_in_some_member": len(set.union(*every))})
    for mix in mixes(trained):
        scored = score(mix.pop("logits"), data.val_y)
        record["mixes"].append({**mix, **scored})
        print(f"  {mix['name']:<60} {scored['errors']:3d} errors ({scored['accuracy']:.2%}) "
              f"in {mix['train_seconds']:.1f} s of training")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
