"""Figures of how far to trust the model: a digit under each corruption, accuracy under each, and
occlusion maps over their images. Each takes data and returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mnist_cnn.constants import CORRUPTION_SEED
from mnist_cnn.evaluation.plots import subplots


def corruption_examples(image: np.ndarray, seed: int = CORRUPTION_SEED) -> Figure:
    """One image (28, 28) clean and under each of MNIST-C's 15 corruptions."""
    from mnist_cnn.evaluation.corruptions import CORRUPTIONS

    panels = {"clean": image, **{name: f(image[None], seed)[0] for name, f in CORRUPTIONS.items()}}
    fig, axes = subplots(2, 8, figsize=(12, 3.4), images=True)
    for ax, (name, picture) in zip(axes.flat, panels.items(), strict=True):
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255 if picture.dtype == np.uint8 else 1)
        ax.set_title(name.replace("_", " "), fontsize=9)
    fig.suptitle("A test digit under each MNIST-C corruption")
    return fig


def corruption_accuracy_bars(accuracies: dict[str, float], clean: float) -> Figure:
    """Test accuracy under each corruption as bars, the clean accuracy and the corruptions' mean as lines."""
    fig, ax = subplots(figsize=(10, 4))
    names, values = list(accuracies), 100 * np.array(list(accuracies.values()))
    ax.bar(range(len(names)), values, color="tab:blue")
    ax.axhline(100 * clean, color="tab:green", label=f"clean {clean:.2%}")
    mean = values.mean()
    ax.axhline(mean, color="tab:orange", linestyle="--", label=f"corruptions' mean {mean:.2f}%")
    ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], rotation=45, ha="right")
    ax.set(ylabel="test accuracy (%)", ylim=(max(0, values.min() - 5), 100.5),
           title="Accuracy under MNIST-C's corruptions")
    ax.legend(loc="lower left")
    return fig


def occlusion_figure(images, maps, titles) -> Figure:
    """Each occlusion map drawn over its image: red where hiding the pixels lowers the prediction."""
    fig, axes = subplots(1, len(images), figsize=(2.2 * len(images) + 0.8, 2.6), images=True, squeeze=False)
    scale = max(float(np.abs(maps).max()), 1e-6)
    for ax, image, heat, title in zip(axes[0], images, maps, titles, strict=True):
        ax.imshow(image, cmap="gray")
        shown = ax.imshow(heat, cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.55)
        ax.set_title(title, fontsize=9)
    fig.colorbar(shown, ax=axes[0].tolist(), shrink=0.8, label="probability drop")
    return fig
