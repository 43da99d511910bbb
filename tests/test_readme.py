"""The README's headline numbers are those of the committed run (models/metrics.json)."""

from __future__ import annotations

import json

from tests.conftest import ROOT


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


def test_readme_results_agree_with_metrics_json():
    metrics = json.loads((ROOT / "models" / "metrics.json").read_text())
    rows = results_rows()
    assert metrics["profile"] == "full"
    assert rows["profile"] == f"`{metrics['profile']}`, seed {metrics['seed']}"
    assert rows["test accuracy"] == f"{metrics['test_accuracy']:.2%}".replace("%", " %")
    assert rows["test errors"] == f"{metrics['errors']} of {metrics['test_samples']:,}"
    assert rows["macro F1"] == f"{metrics['macro_f1']:.4f}"
    assert rows["ROC AUC, macro"] == f"{metrics['roc_auc_macro']:.6f}"
    assert rows["expected calibration error"] == f"{metrics['ece']:.4f}"
    assert rows["training"] == (f"{metrics['epochs_run']} epochs, {metrics['train_seconds']:.0f} s "
                                f"on {metrics['device']}")


def test_committed_notebook_is_a_clean_full_run():
    nb = json.loads((ROOT / "notebooks" / "mnist_cnn.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") is not None for c in code)
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert nb["metadata"]["papermill"]["parameters"]["profile"] == "full"
    text = json.dumps(nb)
    for machine_path in ("/work/", "/root/", "/tmp/", "/home/"):
        assert machine_path not in text
