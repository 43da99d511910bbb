"""Use a trained model: your own digit images, MNIST-style CSVs, and Kaggle submissions.

Photos and drawings do not look like MNIST, so `prepare_image` brings them to its conventions first:
grayscale, a light digit on a black background, cropped to the digit, scaled to fit a 20x20 box
keeping its aspect, then placed in a 28x28 frame with its centre of mass in the middle (how LeCun et
al. built MNIST from NIST's scans).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.data import IMAGE_SIDE, InputFileError, atomic_write, load_csv
from mnist_cnn.evaluate import predict_probabilities

DIGIT_BOX = 20  # MNIST digits fit a 20x20 box inside the 28x28 frame
# Below this share of the digit's full brightness a pixel counts as background when cropping: paper
# texture and JPEG noise must not widen the box.
INK_THRESHOLD = 0.2


class ImageReadError(InputFileError):
    """An image that cannot be used, with its path and the reason."""


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one image: the class, its probability, and the best three."""

    source: str
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        others = ", ".join(f"{name} {p:.1%}" for name, p in self.top)
        return f"{self.source}: {self.label} ({self.confidence:.1%}; top 3: {others})"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Any image Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP...) as float grayscale in [0, 1].

    Transparent parts count as white paper, so a dark digit on a transparent background reads as
    it looks in a viewer.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "file not found")
    if path.is_dir():
        raise ImageReadError(path, "is a directory, not an image")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, rgba)
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(path, f"cannot be read as an image ({err})") from None
    if gray.size == 0:
        raise ImageReadError(path, "the image is empty")
    return gray


def prepare_image(gray: np.ndarray, source: str | os.PathLike = "<image>") -> np.ndarray:
    """A grayscale image in [0, 1] (any size) as a uint8 28x28 MNIST-style digit.

    Raises:
        ImageReadError: the image holds no digit (it is one flat colour).
    """
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2:
        raise ImageReadError(source, f"expected a 2-D grayscale image, got shape {gray.shape}")
    # the border is mostly background: a light border means dark ink on paper, which MNIST inverts
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray, background = 1.0 - gray, 1.0 - background
    ink, floor = gray, background
    peak = float(ink.max())
    if peak - floor < 0.1:
        raise ImageReadError(source, "no digit found: the image is a single flat colour")
    ink = np.clip((ink - floor) / (peak - floor), 0.0, 1.0)

    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = ink.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # a box filter when shrinking averages every source pixel (anti-aliasing, as MNIST's digits are)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    digit = np.asarray(Image.fromarray(ink).resize(size, resample=resample), dtype=np.float32)
    digit = np.clip(digit, 0.0, 1.0)

    total = float(digit.sum())
    if total <= 0:
        raise ImageReadError(source, "no digit found after scaling")
    rows_idx, cols_idx = np.indices(digit.shape)
    centre_y = float((rows_idx * digit).sum() / total)
    centre_x = float((cols_idx * digit).sum() / total)
    # MNIST's digits have their centre of mass at (14, 14) in pixel indices, not at the geometric
    # middle 13.5: measured on the test set, placing it at 13.5 left them a pixel up and left
    middle = IMAGE_SIDE / 2.0
    top = int(np.clip(round(middle - centre_y), 0, IMAGE_SIDE - digit.shape[0]))
    left = int(np.clip(round(middle - centre_x), 0, IMAGE_SIDE - digit.shape[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return np.round(frame * 255.0).astype(np.uint8)


def load_images(paths: list[str | os.PathLike]) -> np.ndarray:
    """Read and prepare image files: uint8 (N, 28, 28), in the order given."""
    return np.stack([prepare_image(read_image(path), path) for path in paths])


def predict_digits(
    model, images: np.ndarray, class_names, sources: list[str] | None = None, top: int = 3
) -> list[Prediction]:
    """Predict uint8 (N, 28, 28) images: one `Prediction` each."""
    probabilities = predict_probabilities(model, images)
    class_names = tuple(class_names)
    sources = sources if sources is not None else [f"#{i + 1}" for i in range(len(images))]
    predictions = []
    for source, row in zip(sources, probabilities, strict=True):
        order = np.argsort(row)[::-1][:top]
        predictions.append(
            Prediction(
                str(source),
                class_names[order[0]],
                float(row[order[0]]),
                tuple((class_names[i], float(row[i])) for i in order),
            )
        )
    return predictions


def write_submission(model, csv_path: str | os.PathLike, output: str | os.PathLike, class_names) -> int:
    """Predict every image of an MNIST-style CSV and write a Kaggle "Digit Recognizer" submission.

    The output has the header `ImageId,Label` and one row per image, ImageId counting from 1. It is
    written beside its final name and renamed, so an interrupted run leaves no partial file.
    Returns the number of rows written.

    Raises:
        CSVFormatError: the CSV fails validation.
    """
    images, _ = load_csv(csv_path)
    probabilities = predict_probabilities(model, images)
    class_names = tuple(class_names)
    labels = [class_names[i] for i in probabilities.argmax(axis=1)]
    lines = ["ImageId,Label", *(f"{i},{label}" for i, label in enumerate(labels, start=1))]
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda handle: handle.write("\n".join(lines) + "\n"), mode="w")
    return len(labels)
