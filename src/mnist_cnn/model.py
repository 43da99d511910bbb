"""The CNN: a classifier of built-in Keras layers, and the training model that augments in front of it.

Only the classifier is saved, so it loads in plain Keras. "original" is the original project's network; "fast"
this project's, augmenting with one affine warp (each resampling costs CPU time)."""

from __future__ import annotations

import math
from collections.abc import Callable

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

    def __init__(
        self,
        rotation: float = 0.0,
        zoom: float = 0.0,
        translation: float = 0.0,
        seed: int | None = None,
        distortion: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.rotation = rotation
        self.zoom = zoom
        self.translation = translation
        self.distortion = distortion
        self.seed = seed
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
            return keras.random.uniform(
                (batch,), -limit, limit, dtype="float32", seed=self.seed_generator
            )

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
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "seed": self.seed,
            "distortion": self.distortion,
        }


def build_augmentation(config: Config) -> keras.Sequential | RandomAffine:
    """The training-time augmentation the config asks for."""
    if config.architecture == "original":
        fill = {"fill_mode": "constant", "fill_value": 0.0}
        return keras.Sequential(
            [
                layers.RandomRotation(config.rotation, seed=config.seed, **fill),
                layers.RandomZoom(config.zoom, seed=config.seed + 1, **fill),
                layers.RandomTranslation(
                    config.translation, config.translation, seed=config.seed + 2, **fill
                ),
            ],
            name="augmentation",
        )
    return RandomAffine(
        config.rotation, config.zoom, config.translation, seed=config.seed,
        distortion=config.distortion, name="augmentation",
    )


def build_classifier(
    config: Config, norm: Callable[..., layers.Layer] = layers.BatchNormalization
) -> keras.Model:
    """The uncompiled CNN for (28, 28, 1) inputs in [0, 1]: logits, then a float32 softmax.

    `norm` makes its batch-norm layers (Keras' own by default, which is what is saved)."""
    if config.architecture == "original":
        return build_original_network(config, norm)
    return build_fast_network(config, norm)


def build_original_network(config: Config, norm=layers.BatchNormalization) -> keras.Model:
    """The original project's network: conv, batch-norm, pool and dropout blocks, then a dense head."""
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    x = inputs
    for filters in config.conv_filters:
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = norm()(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(config.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(config.dense_units, activation="relu")(x)
    x = norm()(x)
    x = layers.Dropout(0.5)(x)
    return _softmax_head(inputs, x, config)


def build_fast_network(config: Config, norm=layers.BatchNormalization) -> keras.Model:
    """This project's network: 3x3 convolution blocks with batch norm and ReLU, then the head.

    Pooling precedes batch norm, which then costs a quarter; no conv bias (batch norm shifts); momentum 0.9
    keeps up with a short one-cycle run."""
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    x = inputs
    if config.standardize:  # each image to zero mean and unit variance on its own
        x = layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False)(x)
    for filters, convs in zip(config.conv_filters, config.convs_per_block, strict=True):
        for index in range(convs):
            x = layers.Conv2D(filters, 3, padding=config.padding, use_bias=not config.batch_norm)(x)
            if index == convs - 1:
                x = layers.MaxPooling2D()(x)
            if config.batch_norm:
                x = norm(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
    return fast_network_head(inputs, x, config, norm)


def fast_network_head(inputs, x, config: Config, norm=layers.BatchNormalization) -> keras.Model:
    """The fast network's head: flatten, the optional dense layer, dropout and the softmax."""
    x = layers.Flatten()(x)
    if config.dense_units:
        x = layers.Dropout(config.dropout)(x)
        x = layers.Dense(config.dense_units, use_bias=not config.batch_norm)(x)
        if config.batch_norm:
            x = norm(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
    x = layers.Dropout(config.dropout)(x)
    return _softmax_head(inputs, x, config)


def _softmax_head(inputs, x, config: Config) -> keras.Model:
    logits = layers.Dense(config.num_classes, name=LOGITS)(x)
    # float32 even under a mixed-precision policy: probabilities must sum to 1 to float32 precision
    outputs = layers.Activation("softmax", dtype="float32", name=PROBABILITIES)(logits)
    return keras.Model(inputs, outputs, name=f"mnist_cnn_{config.architecture}")


def build_model(
    config: Config,
    norm: Callable[..., layers.Layer] = layers.BatchNormalization,
    network: Callable[..., keras.Model] = build_classifier,
    augmentation: Callable[[Config], layers.Layer] = build_augmentation,
) -> keras.Model:
    """The training model: the config's augmentation in front of `network(config, norm)`'s classifier."""
    classifier = network(config, norm)
    if not config.augment:
        return classifier
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="image")
    outputs = classifier(augmentation(config)(inputs))
    return keras.Model(inputs, outputs, name=TRAINING_MODEL_PREFIX + classifier.name)


def classifier_of(model: keras.Model) -> keras.Model:
    """The classifier inside a training model from `build_model` (the model itself when it has none)."""
    if model.name.startswith(TRAINING_MODEL_PREFIX):
        return model.get_layer(model.name.removeprefix(TRAINING_MODEL_PREFIX))
    return model
