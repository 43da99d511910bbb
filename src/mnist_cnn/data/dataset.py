"""The data set in memory: train, validation and test splits, and the arrays the model takes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.constants import NUM_CLASSES
from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.io.errors import CSVFormatError
from mnist_cnn.io.files import file_sha256
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images as float32 (N, 28, 28, 1) in [0, 1]."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Integer labels (N,) as float32 one-hot rows (N, num_classes)."""
    return np.eye(num_classes, dtype=np.float32)[labels]


def stratified_split(images: np.ndarray, labels: np.ndarray, val_size: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded split keeping each class's share: (train_x, train_y, val_x, val_y)."""
    from sklearn.model_selection import train_test_split

    if val_size <= 0:
        return images, labels, images[:0], labels[:0]
    train_x, val_x, train_y, val_y = train_test_split(images, labels, test_size=val_size, stratify=labels,
                                                      random_state=seed)
    return train_x, train_y, val_x, val_y


def load_csvs(
    paths: list[str | os.PathLike], *, limits: Limits = DEFAULT_LIMITS
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """`load_csv` on several files in two threads: decompression and the C parser release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(2, len(paths)) or 1) as pool:
        return list(pool.map(lambda p: load_csv(p, limits=limits), paths))


@dataclass
class Dataset:
    """uint8 images (N, 28, 28) and int labels (N,) of each split; test labels may be None."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray | None
    checksums: dict[str, str]

    def summary(self) -> dict[str, int]:
        return {"train": len(self.train_x), "validation": len(self.val_x), "test": len(self.test_x)}


def check_labels(path: str | os.PathLike, labels: np.ndarray, num_classes: int) -> None:
    """Raise for the first label that names none of `num_classes` classes."""
    if labels.size and labels.max() >= num_classes:
        row = int(np.argmax(labels >= num_classes))
        raise CSVFormatError(path, f"label {labels[row]} in data row {row + 1} has no class name "
                             f"(class_names lists {num_classes})", column=1)


def load_dataset(config, *, limits: Limits = DEFAULT_LIMITS) -> Dataset:
    """Load the config's CSVs, check labels, and split off a stratified, seeded validation set.

    `train_limit` and `test_limit` shrink the sets. Raises `CSVFormatError` or `LimitError`."""
    paths = [Path(config.train_path), Path(config.test_path)]
    (images, labels), (test_x, test_y) = load_csvs(paths, limits=limits)
    if labels is None:
        raise CSVFormatError(paths[0], "the training CSV has no label column")
    check_labels(paths[0], labels, config.num_classes)
    if test_y is not None:
        check_labels(paths[1], test_y, config.num_classes)

    if config.train_limit is not None and config.train_limit + config.val_size < len(images):
        keep = config.train_limit + config.val_size
        images, labels, _, _ = stratified_split(images, labels, len(images) - keep, config.seed)
    train_x, train_y, val_x, val_y = stratified_split(images, labels, config.val_size, config.seed)
    if config.test_limit is not None:
        test_x = test_x[: config.test_limit]
        test_y = None if test_y is None else test_y[: config.test_limit]
    checksums = {p.name: file_sha256(p) for p in paths}
    return Dataset(train_x, train_y, val_x, val_y, test_x, test_y, checksums)
