"""The README's headline numbers are those of the committed run (models/metrics.json as committed)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tests.conftest import ROOT

METRICS = "models/metrics.json"


def committed_record() -> dict:
    """metrics.json as committed: a local `make run PROFILE=quick` rewrites the file, not the commit."""
    command = ["git", "-C", str(ROOT), "show", f"HEAD:{METRICS}"]
    shown = subprocess.run(command, capture_output=True, text=True)
    text = shown.stdout if shown.returncode == 0 else (ROOT / METRICS).read_text()
    return json.loads(text)


def results_rows() -> dict[str, str]:
    rows = {}
    in_table = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| measure | value |"):
            in_table = True
        elif in_table and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1]
        elif in_table:
            break
    return rows


def test_readme_results_agree_with_the_committed_record():
    metrics = committed_record()
    calibration = metrics["calibration"]
    rows = results_rows()
    assert rows["profile"] == f"`{metrics['profile']}`, seed {metrics['seed']}"
    assert rows["test accuracy"] == f"{metrics['test_accuracy']:.2%}".replace("%", " %")
    assert rows["test errors"] == f"{metrics['errors']} of {metrics['test_samples']:,}"
    assert rows["macro F1"] == f"{metrics['macro_f1']:.4f}"
    assert rows["ROC AUC, macro"] == f"{metrics['roc_auc_macro']:.6f}"
    assert rows["temperature (fitted on validation)"] == f"{calibration['temperature']:.3f}"
    assert rows["expected calibration error"] == (
        f"{calibration['test_ece_before']:.4f} before calibration, {calibration['test_ece_after']:.4f} after"
    )
    assert rows["log loss (plain cross-entropy)"] == (
        f"{calibration['test_log_loss_before']:.4f} before calibration, "
        f"{calibration['test_log_loss_after']:.4f} after"
    )
    assert rows["training"] == (f"{metrics['epochs_run']} epochs, {metrics['train_seconds']:.0f} s "
                                f"on {metrics['device']}")
    disputed = metrics["label_errors"]
    assert rows["test accuracy, disputed labels left out"] == (
        f"{disputed['undisputed_accuracy']:.2%}".replace("%", " %")
        + f" ({disputed['undisputed_samples']:,} images; {disputed['counted_wrong']} of the "
        f"{disputed['disputed_labels']} disputed counted wrong)"
    )


def test_committed_run_is_calibrated_without_changing_a_prediction():
    metrics = committed_record()
    calibration = metrics["calibration"]
    assert metrics["ece"] == pytest.approx(calibration["test_ece_after"]) and metrics["ece"] <= 0.010
    assert calibration["test_log_loss_after"] * 3 <= calibration["test_log_loss_before"]
    assert calibration["predictions_changed"] == 0
    assert calibration["fitted_on"].startswith("validation")


def test_committed_model_loads_safely_and_scores_what_its_record_says():
    from mnist_cnn.data.csv_files import load_csv
    from mnist_cnn.evaluation.metrics import predict_probabilities
    from mnist_cnn.serving.model_io import load_model

    model = load_model(ROOT / "models" / "mnist_cnn.keras")
    assert [layer.name for layer in model.layers][-2:] == ["temperature", "probabilities"]
    images, labels = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    predicted = predict_probabilities(model, images[:2000]).argmax(axis=1)
    record = committed_record()
    errors = np.array(record["confusion_matrix"]).sum() - np.trace(np.array(record["confusion_matrix"]))
    assert errors == record["errors"]
    assert (predicted == labels[:2000]).mean() >= record["test_accuracy"] - 0.005


def test_committed_notebook_is_a_clean_full_run():
    nb = json.loads((ROOT / "notebooks" / "mnist_cnn.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") is not None for c in code)
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # nothing of papermill's: the parameters cell itself says what ran
    assert "papermill" not in nb["metadata"] and '"papermill"' not in json.dumps(code)
    assert not [c for c in code if "injected-parameters" in c["metadata"].get("tags", [])]
    parameters = "".join(next(c for c in code if "parameters" in c["metadata"].get("tags", []))["source"])
    assert f'profile = "{committed_record()["profile"]}"' in parameters
    text = json.dumps(nb)
    for machine_path in ("/work/", "/root/", "/tmp/", "/home/"):
        assert machine_path not in text


def table_after(path, header: str) -> list[list[str]]:
    lines = (ROOT / path).read_text().splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


# the bench reference's table against the peers: the latest run on an AVX512-BF16 CPU, today's profiles
BENCH = ROOT / "bench" / "results" / "train_bench_cpu2_amd_r3.json"
RECIPES = {"keras-io": "keras-io", "`original`": "original", "`quick`": "quick", "`full`": "full"}


def percent(value: float) -> str:
    return f"{value:.2%}".replace("%", " %")


def test_bench_reference_peers_table_is_the_committed_bench_run():
    """Each row of bench/README.md's table against the peers carries the run's seeds, epochs, seconds,
    accuracies and ratio to its peer."""
    bench = json.loads(BENCH.read_text())
    header = ("| recipe | seeds | epochs | train s | test accuracy | validation | of its peer's time | "
              "multiply-adds per image |")
    checked = set()
    for cells in table_after("bench/README.md", header):
        name = next(recipe for label, recipe in RECIPES.items() if cells[0].startswith(label))
        summary, runs = bench["summary"][name], bench["runs"][name]
        assert cells[1] == ", ".join(str(seed) for seed in summary["seeds"])
        assert cells[2] == ", ".join(sorted({str(run["epochs"]) for run in runs.values()}))
        assert cells[3] == f"{summary['train_seconds']:.1f}"
        assert cells[4] == percent(summary["test_accuracy"])
        assert cells[5] == (percent(summary["val_accuracy"]) if summary.get("val_accuracy") else "")
        peer = {"quick": ("keras-io", "keras-io's"), "full": ("original", "the original's")}.get(name)
        if peer:
            ratio = summary["train_seconds"] / bench["summary"][peer[0]]["train_seconds"]
            assert cells[6] == f"{ratio:.3f} of {peer[1]}"
        else:
            assert cells[6] == ""
        checked.add(name)
    assert checked == set(RECIPES.values())


def test_bench_reference_machines_table_is_each_rows_record():
    """Each row of bench/README.md's table of the other machines is the record it names."""
    header = "| recipe | machine | seeds | train s | test accuracy | record |"
    rows = table_after("bench/README.md", header)
    for cells in rows:
        record = json.loads((ROOT / cells[5].strip("`")).read_text())
        name = next(recipe for label, recipe in RECIPES.items() if cells[0].startswith(label))
        if "summary" in record:
            summary = record["summary"][name]
            seeds = ", ".join(str(seed) for seed in summary["seeds"])
        else:  # models/metrics.json: one run
            summary, seeds = record, str(record["seed"])
            assert record["profile"] == name
        assert (cells[2], cells[3]) == (seeds, f"{summary['train_seconds']:.1f}"), cells
        assert cells[4] == percent(summary["test_accuracy"]), cells
    assert len(rows) >= 10


def seed_table_rows(header: str, bench: dict) -> dict[str, list[str]]:
    """A README table of recipes against one bench run: each row's seeds, seconds and accuracy (with the
    range over seeds) must be the run's; returns the checked rows by recipe."""
    checked = {}
    for cells in table_after("docs/results.md", header):
        name = next(recipe for label, recipe in RECIPES.items() if cells[0].startswith(label))
        summary, runs = bench["summary"][name], bench["runs"][name]
        accuracies = [run["test_accuracy"] for run in runs.values()]
        assert cells[1] == ", ".join(str(seed) for seed in summary["seeds"])
        assert cells[2] == f"{summary['train_seconds']:.1f}"
        expected = percent(summary["test_accuracy"])
        if len(accuracies) > 1:
            low, high = percent(min(accuracies)).replace(" %", ""), percent(max(accuracies))
            expected += f" ({low} to {high})"
        assert cells[3] == expected
        checked[name] = cells
    return checked


# the README's table on an AVX512-BF16 CPU: the latest run there, with today's profiles
README_BENCH = ROOT / "bench" / "results" / "train_bench_cpu2_amd_r3.json"


def test_readme_seed_table_is_the_committed_bench_run_with_its_range_and_ratios():
    bench = json.loads(README_BENCH.read_text())
    rows = seed_table_rows("| recipe | seeds | train s | test accuracy | of its peer's time |", bench)
    assert set(rows) == {"keras-io", "original", "quick", "full"}
    seconds = {name: bench["summary"][name]["train_seconds"] for name in rows}
    assert rows["quick"][4] == f"{seconds['quick'] / seconds['keras-io']:.3f} of keras-io's"
    assert rows["full"][4] == f"{seconds['full'] / seconds['original']:.3f} of the original's"
    assert rows["keras-io"][4] == rows["original"][4] == ""


AVX2_TABLES = {  # header: (the bench run, whether keras-io ran on oneDNN's kernels in it)
    "| recipe (float32, AVX2 only) | seeds | train s | test accuracy | of keras-io's time |":
        ("train_bench_cpu2_avx2_peers_default.json", False),
    "| recipe (float32, AVX2 only, oneDNN's kernels for both) | seeds | train s | test accuracy | "
    "of keras-io's time |": ("train_bench_cpu2_avx2_onednn.json", True),
}


@pytest.mark.parametrize("header", sorted(AVX2_TABLES))
def test_readme_float32_tables_are_the_committed_avx2_benches_with_their_kernels_and_ratio(header):
    name, peer_on_onednn = AVX2_TABLES[header]
    bench = json.loads((ROOT / "bench" / "results" / name).read_text())
    assert bench["execution"]["precision"] == "float32" and "avx512" not in bench["cpu"]
    execution = bench["execution"]
    assert execution["onednn_kernels"]["enabled"] is True  # quick: the package's choice
    peer = execution.get("peers_onednn_kernels", {}).get("keras-io", execution["onednn_kernels"])
    assert peer["enabled"] is peer_on_onednn
    rows = seed_table_rows(header, bench)
    assert set(rows) == {"keras-io", "quick"}
    ratio = bench["summary"]["quick"]["train_seconds"] / bench["summary"]["keras-io"]["train_seconds"]
    assert rows["quick"][4] == f"{ratio:.3f}" and rows["keras-io"][4] == ""


def test_readme_names_every_keras_and_runtime_the_matrix_tries():
    from tests.runtimes.environments import RUNTIMES

    text = (ROOT / "docs" / "using-the-model.md").read_text()
    for runtime in RUNTIMES:
        for keras_version in runtime.keras:
            row = f"| {keras_version} | {runtime.pinned('tensorflow')} | {runtime.python} |"
            assert row in text, (runtime.name, keras_version)


ENSEMBLE_BENCH = ROOT / "bench" / "results" / "train_bench_cpu2_ensemble_long.json"


def test_readme_ensemble_table_is_the_committed_ensemble_bench():
    bench = json.loads(ENSEMBLE_BENCH.read_text())
    assert bench["settings"] == ["members=2", "epochs=48"]  # the recipe the table's row names
    original, ensemble = bench["summary"]["original"], bench["summary"]["ensemble"]
    accuracies = [run["test_accuracy"] for run in bench["runs"]["ensemble"].values()]
    header = "| recipe | seeds | train s | test accuracy | of the original's time |"
    rows = {cells[0]: cells[1:] for cells in table_after("docs/results.md", header)}
    assert rows["`original` (peer, same run)"] == [
        ", ".join(map(str, original["seeds"])), f"{original['train_seconds']:.1f}",
        percent(original["test_accuracy"]), ""]
    low, high = percent(min(accuracies)).replace(" %", ""), percent(max(accuracies))
    assert rows["ensemble of two `full` networks, 48 epochs each"] == [
        ", ".join(map(str, ensemble["seeds"])), f"{ensemble['train_seconds']:.1f}",
        f"{percent(ensemble['test_accuracy'])} ({low} to {high})",
        f"{ensemble['train_seconds'] / original['train_seconds']:.2f}"]


def test_readme_is_short_and_its_run_times_are_each_bound_to_one_record():
    """The README stays a page for users; each time in its table of profiles by machine is one key of
    one bench record (the file the row names, summary.<recipe>.train_seconds), none typed by hand."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 120
    header = "| machine | precision | `quick` | `full` | `original` | record (`bench/results/`) |"
    rows = table_after("README.md", header)
    assert len(rows) == 3
    for cells in rows:
        records = [json.loads((ROOT / "bench" / "results" / name.strip(" `")).read_text())
                   for name in cells[5].split(",")]
        for recipe, cell in zip(("quick", "full", "original"), cells[2:5], strict=True):
            found = [r["summary"][recipe] for r in records if recipe in r["summary"]]
            assert len(found) == 1, (cells[0], recipe)  # one record holds it
            assert cell.startswith(f"{found[0]['train_seconds']:.1f} s"), (cells[0], recipe, cell)
            if "(seed" in cell:
                assert found[0]["seeds"] == [int(cell.split("(seed ")[1].rstrip(")"))]
            else:
                assert found[0]["seeds"] in ([1, 2, 3], [1])


def test_readme_sample_of_a_run_is_the_recorded_one():
    record = json.loads((ROOT / "bench" / "results" / "progress_sample_quick.json").read_text())
    text = (ROOT / "README.md").read_text()
    sample = text.split("bench/results/progress_sample_quick.json`):\n\n```\n")[1].split("\n```")[0]
    lines = sample.splitlines()
    assert len(lines) >= 3 and all(line in record["states"] for line in lines)
    assert any("steps/s" in line and "run 0:" in line for line in lines)  # a bar state
    assert any(line.startswith("epoch   ") for line in lines)  # an epoch's line
