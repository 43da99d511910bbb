"""The input: one `PyDataset` on every backend, its order drawn from (seed, epoch) so a resume matches."""

from __future__ import annotations

import keras
import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, one_hot, to_model_input


class ShuffledBatches(keras.utils.PyDataset):
    """Batches in an order drawn from (seed, epoch), so a resumed run sees the same order."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch: int, seed: int | None,
                 whole: bool = True, first_epoch: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.images, self.labels, self.batch, self.seed, self.whole = images, labels, batch, seed, whole
        self.epoch = first_epoch
        self._order = self._draw()

    def _draw(self) -> np.ndarray | None:
        if self.seed is None:  # validation: in file order
            return None
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        count = len(self.images) / self.batch
        return max(1, int(count)) if self.whole else int(np.ceil(count))

    def __getitem__(self, index: int):
        rows = slice(index * self.batch, (index + 1) * self.batch)
        chosen = self._order[rows] if self._order is not None else rows
        return self.images[chosen], self.labels[chosen]

    def on_epoch_end(self) -> None:
        self.start_at(self.epoch + 1)

    def start_at(self, epoch: int) -> None:
        """Draw the order of `epoch` next (a resumed run starts where it stopped)."""
        self.epoch = epoch
        self._order = self._draw()


def takes_whole_batches(images: int, batch: int) -> bool:
    """Whether training drops an epoch's last partial batch: one shape means one trace."""
    return images >= batch


def make_datasets(config: Config, dataset: Dataset, strategy, first_epoch: int = 0):
    """(shuffled training batches, validation batches, steps per epoch) for the active backend."""
    train_x, val_x = to_model_input(dataset.train_x), to_model_input(dataset.val_x)
    train_y = one_hot(dataset.train_y, config.num_classes)
    val_y = one_hot(dataset.val_y, config.num_classes)
    # the profile's batch is the global batch, whatever the replicas: each takes its share, so steps
    # per epoch, the learning rate and the schedule mean on several devices what they mean on one
    batch = config.batch_size
    replicas = strategy.num_replicas_in_sync
    if batch % replicas:
        raise ValueError(f"batch_size {batch} does not split evenly over {replicas} replicas; "
                         f"choose a multiple of {replicas}")
    whole = takes_whole_batches(len(train_x), batch)
    steps = len(train_x) // batch if whole else 1
    # validation in whole batches of a size every replica can share, the rest in one last batch
    val_batch = 1024 - 1024 % replicas
    return (ShuffledBatches(train_x, train_y, batch, config.seed, whole, first_epoch),
            ShuffledBatches(val_x, val_y, val_batch, None, whole=False), steps)
