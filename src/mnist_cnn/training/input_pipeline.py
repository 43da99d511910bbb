"""The input pipeline: the split's images and one-hot labels in batches, shuffled by the seed, whole
batches only, the profile's batch as the global batch. TensorFlow reads them through tf.data; JAX and
PyTorch through a `keras.utils.PyDataset` that draws each epoch's order from the seed and the epoch."""

from __future__ import annotations

import keras
import numpy as np

from mnist_cnn import backends
from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, one_hot, to_model_input


def without_autotuning(pipeline):
    """`pipeline` with a fixed prefetch of 2 batches and tf.data's autotuning off.

    On a 2-core CPU the autotuner's background threads took cores from the training step often enough
    to leave them idle about 3.5 s in every 12,800 images (5.1 s a pass instead of 3.6 s;
    bench/slow_mode_probe.py has the measurements).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.prefetch(2).with_options(options)


class ShuffledBatches(keras.utils.PyDataset):
    """Batches of (images, one-hot labels) in an order drawn from (seed, epoch): the same epoch gets
    the same order in a resumed run as in one that never stopped. `whole` drops the last partial
    batch, so every step has one shape and is compiled once."""

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
        self.epoch += 1
        self._order = self._draw()


def takes_whole_batches(images: int, batch: int) -> bool:
    """Whether training drops an epoch's last partial batch: yes when there is at least one whole
    batch. Every step then has one shape, so the step is traced and its kernels set up once, not
    twice; the few images left over each epoch differ from epoch to epoch, as the shuffle does."""
    return images >= batch


def make_datasets(config: Config, dataset: Dataset, strategy, first_epoch: int = 0):
    """(training batches shuffled by the seed, validation batches, steps per epoch) for the active
    backend; `first_epoch` is where a resumed run starts."""
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
    if backends.active() != "tensorflow":
        # validation in whole batches of a size every replica can share, the rest in one last batch
        val_batch = 1024 - 1024 % replicas
        return (ShuffledBatches(train_x, train_y, batch, config.seed, whole, first_epoch),
                ShuffledBatches(val_x, val_y, val_batch, None, whole=False), steps)
    import tensorflow as tf

    train = without_autotuning(
        tf.data.Dataset.from_tensor_slices((train_x, train_y))
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=whole)
    )
    val = without_autotuning(tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(1024))
    return train, val, steps
