"""The input pipeline: the split's images and one-hot labels as batched tf.data pipelines, shuffled
by the seed, whole batches only, the profile's batch as the global batch."""

from __future__ import annotations

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


def make_datasets(config: Config, dataset: Dataset, strategy):
    """Batched tf.data pipelines for training (shuffled by the seed) and validation, not autotuned."""
    import tensorflow as tf

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
    # whole batches only (when there is at least one): every step has one shape, so the step is
    # traced and its kernels set up once, not twice; the few images left over each epoch differ from
    # epoch to epoch, as the shuffle does
    whole = len(train_x) >= batch
    train = without_autotuning(
        tf.data.Dataset.from_tensor_slices((train_x, train_y))
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(batch, drop_remainder=whole)
    )
    val = without_autotuning(tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(1024))
    steps = len(train_x) // batch if whole else 1
    return train, val, steps
