"""The CNN: a classifier of built-in Keras layers, and the training model that augments in front of it.

Only the classifier is saved, so it loads in plain Keras. "original" is the original project's network; "fast"
this project's, augmenting with one affine warp (each resampling costs CPU time)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

from mnist_cnn.config import Config
from mnist_cnn.constants import IMAGE_SIDE

# the distortion's random shifts sit on a (GRID + 1) x (GRID + 1) lattice over the image: ttdoucet's 4x4
_DISTORTION_GRID = 4
LOGITS = "logits"  # the layer whose output calibration divides by the temperature
PROBABILITIES = "probabilities"
TRAINING_MODEL_PREFIX = "training_"


@keras.saving.register_keras_serializable(package="mnist_cnn")
class RandomAffine(layers.Layer):
    """Random rotation, zoom and translation as one affine warp per image, with optional grid distortion."""

    _SETTINGS = ("rotation", "zoom", "translation", "seed", "distortion")

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, translation: float = 0.0,
                 seed: int | None = None, distortion: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.translation = rotation, zoom, translation
        self.seed, self.distortion = seed, distortion
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        # TensorFlow's warp (ImageProjectiveTransformV3) has no XLA kernel: saying so keeps Keras'
        # jit_compile="auto" from compiling a step that cannot run (as Keras' own RandomZoom does)
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def call(self, images, training=None):
        if not training:
            return images
        batch = ops.shape(images)[0]
        side_h, side_w = ops.shape(images)[1], ops.shape(images)[2]

        def draw(limit):
            return keras.random.uniform((batch,), -limit, limit, dtype="float32", seed=self.seed_generator)

        angle = draw(self.rotation * 2.0 * math.pi)
        scale = 1.0 + draw(self.zoom)
        shift_x = draw(self.translation) * ops.cast(side_w, "float32")
        shift_y = draw(self.translation) * ops.cast(side_h, "float32")
        # the transform maps each output pixel to the input pixel it samples: the inverse of
        # "scale and turn about the centre, then shift"
        cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
        centre_x = (ops.cast(side_w, "float32") - 1.0) / 2.0
        centre_y = (ops.cast(side_h, "float32") - 1.0) / 2.0
        a0, a1, b0, b1 = cos, sin, -sin, cos
        a2 = centre_x - a0 * (centre_x + shift_x) - a1 * (centre_y + shift_y)
        b2 = centre_y - b0 * (centre_x + shift_x) - b1 * (centre_y + shift_y)
        if self.distortion:
            return self._warp_with_field(images, (a0, a1, a2, b0, b1, b2))
        zeros = ops.zeros_like(angle)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return ops.image.affine_transform(
            images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0
        )

    def _warp_with_field(self, images, affine):
        """The affine warp plus a smooth displacement field, sampled bilinearly with a black border."""
        batch, side_h, side_w, channels = ops.shape(images)
        field = keras.random.uniform(
            (batch, _DISTORTION_GRID + 1, _DISTORTION_GRID + 1, 2), -self.distortion,
            self.distortion, dtype="float32", seed=self.seed_generator,
        )
        field = ops.image.resize(field, (side_h, side_w), interpolation="bilinear")
        rows, cols = ops.meshgrid(
            ops.arange(side_h, dtype="float32"), ops.arange(side_w, dtype="float32"), indexing="ij"
        )
        a0, a1, a2, b0, b1, b2 = (ops.reshape(v, (-1, 1, 1)) for v in affine)
        source_x = a0 * cols + a1 * rows + a2 + field[..., 0]
        source_y = b0 * cols + b1 * rows + b2 + field[..., 1]
        flat = ops.reshape(images, (-1, channels))
        offsets = ops.reshape(ops.arange(batch) * side_h * side_w, (-1, 1, 1))
        x0, y0 = ops.floor(source_x), ops.floor(source_y)
        warped = 0.0
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            x, y = x0 + dx, y0 + dy
            weight = (1.0 - ops.abs(source_x - x)) * (1.0 - ops.abs(source_y - y))
            inside = (x >= 0) & (x <= ops.cast(side_w - 1, "float32")) & (y >= 0) & (
                y <= ops.cast(side_h - 1, "float32"))
            index = offsets + ops.cast(ops.clip(y, 0, side_h - 1), "int32") * side_w + ops.cast(
                ops.clip(x, 0, side_w - 1), "int32")
            pixels = ops.take(flat, ops.reshape(index, (-1,)), axis=0)
            pixels = ops.reshape(pixels, (batch, side_h, side_w, channels))
            weight = ops.where(inside, weight, 0.0)[..., None]
            warped = warped + pixels * ops.cast(weight, pixels.dtype)
        return warped

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), **{name: getattr(self, name) for name in self._SETTINGS}}


def build_augmentation(config: Config) -> keras.Sequential | RandomAffine:
    """Random rotation, zoom and translation, in front of the network while it trains."""
    if config.architecture == "original":
        fill = {"fill_mode": "constant", "fill_value": 0.0}
        return keras.Sequential([
            layers.RandomRotation(config.rotation, seed=config.seed, **fill),
            layers.RandomZoom(config.zoom, seed=config.seed + 1, **fill),
            layers.RandomTranslation(config.translation, config.translation, seed=config.seed + 2, **fill),
        ], name="augmentation")
    # this project's: the three moves as one warp, plus a mild random grid distortion if `distortion` > 0
    return RandomAffine(config.rotation, config.zoom, config.translation, seed=config.seed,
                        distortion=config.distortion, name="augmentation")


def original_network(config: Config, inputs: Any) -> Any:
    """The original project's layers: conv, batch-norm, pool and dropout blocks, then a dense layer."""
    x = inputs
    for filters in config.conv_filters:
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(config.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(config.dense_units, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    return layers.Dropout(0.5)(x)


def fast_network(config: Config, inputs: Any) -> Any:
    """This project's layers: 3x3 convolution blocks with batch norm and ReLU, then a dense layer."""
    x = inputs
    if config.standardize:  # each image to zero mean and unit variance on its own
        x = layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False)(x)
    for filters, convs in zip(config.conv_filters, config.convs_per_block, strict=True):
        for index in range(convs):
            # no bias where batch norm follows: its shift does that job
            x = layers.Conv2D(filters, 3, padding=config.padding, use_bias=not config.batch_norm)(x)
            if index == convs - 1:
                x = layers.MaxPooling2D()(x)  # before batch norm, which then costs a quarter
            if config.batch_norm:
                x = layers.BatchNormalization(momentum=0.9)(x)  # keeps up with a short schedule
            x = layers.Activation("relu")(x)
    x = layers.Flatten()(x)
    if config.dense_units:
        x = layers.Dropout(config.dropout)(x)
        x = layers.Dense(config.dense_units, use_bias=not config.batch_norm)(x)
        if config.batch_norm:
            x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
    return layers.Dropout(config.dropout)(x)


def build_network(config: Config) -> keras.Model:
    """The classifier that is trained and saved: a (28, 28, 1) image in, class probabilities out."""
    inputs = keras.Input(shape=(28, 28, 1), name="image")
    body = original_network if config.architecture == "original" else fast_network
    logits = layers.Dense(config.num_classes, name="logits")(body(config, inputs))
    # float32 even in mixed precision: the probabilities sum to 1 to float32's precision
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=f"mnist_cnn_{config.architecture}")


def with_augmentation(classifier: keras.Model, augmentation: Any = None) -> keras.Model:
    """The training model: `augmentation` (None: none) in front of `classifier`."""
    if augmentation is None:
        return classifier
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    return keras.Model(inputs, classifier(augmentation(inputs)), name=TRAINING_MODEL_PREFIX + classifier.name)


def build_model(config: Config) -> keras.Model:
    """The training model with Keras' own layers: the config's augmentation, then the classifier."""
    return with_augmentation(build_network(config), build_augmentation(config) if config.augment else None)


def classifier_of(model: keras.Model) -> keras.Model:
    """The classifier inside a training model from `build_model` (the model itself when it has none)."""
    if model.name.startswith(TRAINING_MODEL_PREFIX):
        return model.get_layer(model.name.removeprefix(TRAINING_MODEL_PREFIX))
    return model
