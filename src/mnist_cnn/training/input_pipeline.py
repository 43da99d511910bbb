"""The training input, its order a function of (seed, epoch), so a resumed run sees what it would have.

tf.data on TensorFlow (its reshuffling fast-forwarded on resume), a `PyDataset` on JAX and PyTorch."""

from __future__ import annotations

import keras
import numpy as np

from mnist_cnn import backends
from mnist_cnn.config import Config
from mnist_cnn.data.dataset import Dataset, one_hot, to_model_input


def epoch_order(seed: int, epoch: int, images: int) -> np.ndarray:
    """The order of the training images in `epoch`: the same on every backend, and after a resume."""
    return np.random.default_rng([seed, epoch]).permutation(images)


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
        return epoch_order(self.seed, self.epoch, len(self.images))

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


def steps_per_epoch(config: Config, images: int, replicas: int = 1) -> int:
    """Training steps an epoch takes: whole global batches, each replica taking its share."""
    if config.batch_size % replicas:
        raise ValueError(f"batch_size {config.batch_size} does not split evenly over {replicas} replicas; "
                         f"choose a multiple of {replicas}")
    return images // config.batch_size if takes_whole_batches(images, config.batch_size) else 1


def make_datasets(config: Config, dataset: Dataset, strategy, first_epoch: int = 0):
    """(training batches in the order epoch `first_epoch` draws, validation batches, steps per epoch)."""
    train_x, val_x = to_model_input(dataset.train_x), to_model_input(dataset.val_x)
    train_y = one_hot(dataset.train_y, config.num_classes)
    val_y = one_hot(dataset.val_y, config.num_classes)
    # the profile's batch is the global batch, whatever the replicas: steps per epoch, the learning
    # rate and the schedule mean on several devices what they mean on one
    replicas = strategy.num_replicas_in_sync
    steps = steps_per_epoch(config, len(train_x), replicas)
    whole = takes_whole_batches(len(train_x), config.batch_size)
    if backends.active() != "tensorflow":
        val_batch = 1024 - 1024 % replicas  # whole batches every replica can share, then the rest
        return (ShuffledBatches(train_x, train_y, config.batch_size, config.seed, whole, first_epoch),
                ShuffledBatches(val_x, val_y, val_batch, None, whole=False), steps)
    import tensorflow as tf

    # tf.data, 1.3 times faster here (bench/results/input_probe_cpu2_amd.json): the epoch's order
    # comes from the same (seed, epoch) as the PyDataset's, drawn once per epoch in Python
    order = EpochOrder(config.seed, len(train_x), first_epoch)
    rows = tf.data.Dataset.from_generator(order, output_signature=tf.TensorSpec((len(train_x),), tf.int64))
    images, labels = tf.constant(train_x), tf.constant(train_y)
    train = rows.unbatch().batch(config.batch_size, drop_remainder=whole).map(
        lambda index: (tf.gather(images, index), tf.gather(labels, index)))
    # a generator's length is unknown to Keras, which then runs each epoch into the end of the data
    train = train.apply(tf.data.experimental.assert_cardinality(steps))
    train = without_autotuning(train)
    train.start_at = order.start_at  # the bookkeeper calls it as each epoch begins
    val = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(1024)
    return train, without_autotuning(val), steps


class EpochOrder:
    """Yields the epoch's order of the training images: the bookkeeper sets the epoch before each."""

    def __init__(self, seed: int, images: int, first_epoch: int = 0) -> None:
        self.seed, self.images, self.epoch = seed, images, first_epoch

    def start_at(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self):
        yield epoch_order(self.seed, self.epoch, self.images)


def without_autotuning(pipeline):
    """`pipeline` with a fixed prefetch of 2: on 2 cores the autotuner's threads slowed the step."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.prefetch(2).with_options(options)
