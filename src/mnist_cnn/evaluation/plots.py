"""Figures: each function takes arrays and returns a matplotlib Figure, never shown or saved here.

Figures are `matplotlib.figure.Figure` objects, not pyplot's: no global state, no pop-ups, headless."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator
from sklearn.metrics import auc, roc_curve

from mnist_cnn.evaluation.metrics import expected_calibration_error, reliability_table
from mnist_cnn.training.run_state import best_epoch

RIGHT, WRONG = "tab:green", "tab:red"
# the figures of a run's report, by the file name each is saved under (figures/<name>.png)
REPORT_FIGURES = ("training_curves", "confusion_matrix", "roc_curves", "predictions", "mistakes",
                  "calibration", "per_class_accuracy")
OWN_IMAGES = "own_images"


def subplots(rows: int = 1, columns: int = 1, figsize=(8, 6), images: bool = False,
             **options) -> tuple[Figure, Any]:
    """A Figure and its axes (`Figure.subplots`' `options`), laid out; `images` hides every axis."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(rows, columns, **options)
    if images:
        for ax in np.ravel(axes):
            ax.axis("off")
    return fig, axes


def training_curves(history: pd.DataFrame) -> Figure:
    """Accuracy, cross-entropy and learning rate per epoch, training against validation, best epoch marked.

    A label-smoothed objective is drawn dashed; training values carry dropout and augmentation."""
    fig, axes = subplots(1, 3, figsize=(15, 4))
    epochs = history["epoch"]
    best = int(epochs.iloc[best_epoch(history["val_accuracy"]) - 1]) if "val_accuracy" in history else None
    panels = (
        ("accuracy", "Accuracy", "accuracy"),
        ("cross_entropy", "Cross-entropy (log loss)", "cross-entropy"),
    )
    for ax, (metric, title, ylabel) in zip(axes[:2], panels, strict=True):
        if metric in history:
            ax.plot(epochs, history[metric], "o-", label="training", markersize=3)
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "o-", label="validation", markersize=3)
        if metric == "cross_entropy" and "train_loss_label_smoothed" in history:
            ax.plot(epochs, history["train_loss_label_smoothed"], "--", color="tab:grey",
                    label="training objective (label-smoothed)")
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        if best is not None:
            ax.axvline(best, color="grey", linestyle=":", label=f"best epoch ({best})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[1].set_yscale("log")
    if "learning_rate" in history:
        axes[2].plot(epochs, history["learning_rate"], "o-", color="tab:purple", markersize=3)
        axes[2].set_yscale("log")
    axes[2].set(title="Learning rate (end of epoch)", xlabel="epoch", ylabel="learning rate")
    axes[2].grid(alpha=0.3)
    for ax in axes:  # whole epochs only: a short run would otherwise show 0.96 ... 1.04
        ax.xaxis.set_major_locator(FixedLocator(epochs) if len(epochs) <= 10 else MaxNLocator(integer=True))
    return fig


def confusion_matrices(matrix: np.ndarray, class_names) -> Figure:
    """The confusion matrix as counts and row-normalised heatmaps with labelled axes."""
    import seaborn as sns

    matrix = np.asarray(matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.nan_to_num(matrix / matrix.sum(axis=1, keepdims=True))
    fig, axes = subplots(1, 2, figsize=(16, 6.5))
    names = list(class_names)
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", ax=axes[0], cbar=False,
                xticklabels=names, yticklabels=names)
    sns.heatmap(normalised, annot=True, fmt=".3f", cmap="Blues", ax=axes[1], cbar=True,
                xticklabels=names, yticklabels=names, vmin=0, vmax=1, annot_kws={"size": 7})
    for ax, kind in zip(axes, ("counts", "each row sums to 1"), strict=True):
        ax.set(title=f"Confusion matrix ({kind})", xlabel="predicted class", ylabel="true class")
    return fig


def roc_curves(labels: np.ndarray, probabilities: np.ndarray, class_names) -> Figure:
    """One-vs-rest ROC per class with micro and macro averages; log-scaled false positive rate."""
    classes = probabilities.shape[1]
    onehot = np.eye(classes)[labels]
    grid = np.logspace(-5, 0, 400)
    fig, ax = subplots(figsize=(8, 6.5))
    cmap = matplotlib.colormaps["tab10"]
    interpolated = []
    for c in range(classes):
        if onehot[:, c].sum() in (0, len(labels)):
            continue
        fpr, tpr, _ = roc_curve(onehot[:, c], probabilities[:, c])
        interpolated.append(np.interp(grid, fpr, tpr))
        ax.plot(np.maximum(fpr, 1e-5), tpr, color=cmap(c % 10), linewidth=1,
                label=f"{class_names[c]} (AUC {auc(fpr, tpr):.5f})")
    fpr, tpr, _ = roc_curve(onehot.ravel(), probabilities.ravel())
    ax.plot(np.maximum(fpr, 1e-5), tpr, "k--", linewidth=2, label=f"micro average (AUC {auc(fpr, tpr):.5f})")
    if interpolated:
        macro_tpr = np.mean(interpolated, axis=0)
        ax.plot(grid, macro_tpr, "k:", linewidth=2, label=f"macro average (AUC {auc(grid, macro_tpr):.5f})")
    ax.set_xscale("log")
    ax.set(xlim=(1e-5, 1), ylim=(0, 1.01), xlabel="false positive rate (log scale)",
           ylabel="true positive rate", title="ROC, one class against the rest")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def prediction_grid(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, class_names,
                    count: int = 25, seed: int = 0, columns: int = 5) -> Figure:
    """A random sample: true label, prediction and confidence; green title when right, red when wrong."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(images), size=min(count, len(images)), replace=False)
    return _image_grid(images, labels, probabilities, class_names, chosen, columns,
                       "Random test images (green: right, red: wrong)")


def mistakes_gallery(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, class_names,
                     count: int = 25, columns: int = 5, disputed: np.ndarray | None = None) -> Figure:
    """Misclassified images, the most confident first; `disputed` marks test labels reviewers dispute."""
    predictions = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predictions != labels)
    order = wrong[np.argsort(-probabilities[wrong, predictions[wrong]])][:count]
    title = f"Misclassified test images, most confident first ({len(wrong)} in all"
    notes = {}
    if disputed is not None:
        notes = {int(i): "label disputed" for i in order if disputed[i]}
        title += f"; {int(disputed[wrong].sum())} of them with a disputed label"
    return _image_grid(images, labels, probabilities, class_names, order, columns, title + ")", notes)


def _image_grid(images, labels, probabilities, class_names, indices, columns, title,
                notes: dict[int, str] | None = None) -> Figure:
    rows = max(1, int(np.ceil(len(indices) / columns)))
    fig, axes = subplots(rows, columns, figsize=(2.1 * columns, 2.4 * rows), images=True, squeeze=False)
    for ax, i in zip(axes.flat, indices, strict=False):
        predicted = int(probabilities[i].argmax())
        right = predicted == labels[i]
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        note = (notes or {}).get(int(i))
        ax.set_title(f"true {class_names[labels[i]]} / pred {class_names[predicted]}\n"
                     f"{probabilities[i, predicted]:.1%}" + (f", {note}" if note else ""),
                     color=RIGHT if right else WRONG, fontsize=9)
    if len(indices) == 0:
        axes[0, 0].text(0.5, 0.5, "no images to show", ha="center", va="center")
    fig.suptitle(title)
    return fig


def reliability_diagram(
    probabilities: np.ndarray, labels: np.ndarray, ece: float, bins: int = 15,
    before: np.ndarray | None = None,
) -> Figure:
    """Accuracy against confidence per bin, with the diagonal and the ECE; `before` adds the uncalibrated."""
    table = reliability_table(probabilities, labels, bins)
    centres = (table["edges"][:-1] + table["edges"][1:]) / 2
    filled = table["count"] > 0
    fig, (ax, ax_count) = subplots(2, 1, figsize=(7, 7), sharex=True, height_ratios=(3, 1))
    width = 1.0 / bins
    name = "calibrated" if before is not None else "model"
    ax.bar(centres[filled], table["accuracy"][filled], width=width * 0.9, edgecolor="black",
           label=f"{name}: accuracy in bin (ECE {ece:.4f})")
    ax_count.bar(centres, table["count"], width=width * 0.9, color="tab:blue", label=name)
    if before is not None:
        old = reliability_table(before, labels, bins)
        old_filled = old["count"] > 0
        old_ece = expected_calibration_error(before, labels, bins)
        ax.plot(old["confidence"][old_filled], old["accuracy"][old_filled], "o-", color="tab:orange",
                label=f"before calibration (ECE {old_ece:.4f})")
        ax_count.step(old["edges"][:-1], old["count"], where="post", color="tab:orange",
                      label="before calibration")
        ax_count.legend(fontsize=8, loc="upper left")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    title = "Reliability diagram" + (" before and after temperature scaling" if before is not None else "")
    ax.set(ylabel="accuracy", ylim=(0, 1.02), title=title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax_count.set_yscale("log")
    ax_count.set(xlabel="confidence (top probability)", ylabel="images", xlim=(0, 1))
    return fig


def per_class_accuracy(accuracies, class_names) -> Figure:
    """Accuracy of each class as bars, zoomed to where the differences are."""
    accuracies = np.asarray(accuracies, dtype=float)
    fig, ax = subplots(figsize=(8, 4))
    bars = ax.bar(list(class_names), accuracies, color="tab:blue")
    ax.bar_label(bars, labels=[f"{a:.2%}" for a in accuracies], fontsize=8)
    low = np.nanmin(accuracies) if np.isfinite(accuracies).any() else 0.0
    ax.set(ylim=(max(0.0, low - (1 - low) * 0.5 - 0.001), 1.0), xlabel="class", ylabel="accuracy",
           title="Per-class accuracy (recall) on the test set")
    ax.grid(axis="y", alpha=0.3)
    return fig


def report_figures(history: pd.DataFrame, evaluation, images: np.ndarray, seed: int = 0) -> dict[str, Figure]:
    """Every figure of a run's report, by the file name it is saved under."""
    labels, probabilities = evaluation.labels, evaluation.probabilities
    names, metrics = evaluation.class_names, evaluation.metrics
    figures = {
        "training_curves": training_curves(history),
        "confusion_matrix": confusion_matrices(evaluation.confusion, names),
        "roc_curves": roc_curves(labels, probabilities, names),
        "predictions": prediction_grid(images, labels, probabilities, names, seed=seed),
        "mistakes": mistakes_gallery(images, labels, probabilities, names, disputed=evaluation.disputed),
        "calibration": reliability_diagram(
            probabilities, labels, metrics["ece"], before=evaluation.uncalibrated
        ),
        "per_class_accuracy": per_class_accuracy(
            [m["accuracy"] for m in metrics["per_class"].values()], names
        ),
    }
    assert tuple(figures) == REPORT_FIGURES  # the names are defined once, above
    return figures


def own_images(originals, prepared: np.ndarray, predictions) -> Figure:
    """Your images as given (top row) and as the model sees them (bottom row, with its best guesses)."""
    # no ticks, yet axes kept (not `images`): the rows and guesses are labelled on them
    fig, axes = subplots(2, len(prepared), figsize=(2.6 * len(prepared), 5.6), squeeze=False,
                         subplot_kw={"xticks": [], "yticks": []})
    for (top, bottom), original, digit, answer in zip(axes.T, originals, prepared, predictions, strict=True):
        top.imshow(original, cmap="gray", vmin=0, vmax=1)
        top.set_title(Path(answer.source).name, fontsize=8)
        bottom.imshow(digit, cmap="gray", vmin=0, vmax=255)
        bottom.set_title(f"predicted {answer.label}", fontsize=11, fontweight="bold")
        bottom.set_xlabel("\n".join(f"{name}: {p:.1%}" for name, p in answer.top), fontsize=8)
    axes[0, 0].set_ylabel("your image")
    axes[1, 0].set_ylabel("prepared 28x28")
    return fig
