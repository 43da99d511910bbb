"""Digit images of your own, read within `Limits` and prepared as MNIST prepared its digits.

Grayscale, light on black, cropped, scaled into 20x20 and centred by mass in 28x28 (LeCun et al.)."""

from __future__ import annotations

import io
import os
import re
import struct
import warnings

import numpy as np

from mnist_cnn.constants import IMAGE_SIDE
from mnist_cnn.io.errors import ImageReadError, InputFileError
from mnist_cnn.io.files import read_regular_file
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits

DIGIT_BOX = 20  # MNIST digits fit a 20x20 box inside the 28x28 frame
# Strokes leave background inside a digit's box: ink covers at most 88 % of it in MNIST's digits 10+ pixels
# each way. Noise, a scene or a filled shape prepares to a solid block, which a model would still read
# (a noise PNG came out "8, 100 %")
SOLID_BOX_FILL = 0.95
# below this share of full brightness a pixel is background when cropping: paper texture and JPEG noise
# must not widen the box
INK_THRESHOLD = 0.2
# MNIST's strokes are 2-3 pixels wide; a fine pen on a large page would shrink to a tenth of a pixel and fade,
# so a stroke thinner than this once scaled is first widened (a maximum filter) to reach it
MIN_STROKE = 1.5
# what `read_image` opens (the formats the CLI's help lists): Pillow would otherwise try every plugin
# it has, including rarely used decoders, on a downloaded file
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
# JPEGs over this many pixels are decoded reduced by libjpeg (1/2, 1/4 or 1/8, in grayscale) to a
# long side of at least DRAFT_LONG_SIDE: a digit ends up 20 pixels tall, so nothing is lost, and a
# 48 MP photo decodes in a sixteenth of the memory and time
DRAFT_ABOVE_PIXELS = 16_000_000
DRAFT_LONG_SIDE = 2048
_HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def read_image(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """A PNG, JPEG, BMP, GIF, TIFF or WebP image as float grayscale in [0, 1].

    Size and pixels are checked before decoding; transparency is paper; `ImageReadError`, `LimitError`."""
    from PIL import Image, UnidentifiedImageError

    data = read_regular_file(path, "image_file_bytes", "an image", limits=limits, error=ImageReadError)
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own threshold (89 MP) and refuses twice that; its warning
            # becomes an error where our cap is the lower, so no image past the cap is ever decoded
            below = limits.image_pixels < Image.MAX_IMAGE_PIXELS
            warnings.simplefilter("error" if below else "ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as image:
                width, height = image.size
                limits.check("image_pixels", width * height, path, f"is {width}x{height} pixels ({{value}})")
                if image.format == "JPEG" and width * height > DRAFT_ABOVE_PIXELS:
                    scale = DRAFT_LONG_SIDE / max(width, height)
                    image.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))
                image.load()
                gray = _to_gray(_upright(image), path)
    except InputFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb_error(path, err, limits) from None
    except UnidentifiedImageError:
        formats = ", ".join(IMAGE_FORMATS)
        raise ImageReadError(path, f"not an image Pillow can read as one of {formats}") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(path, f"cannot be read as an image ({err})") from None
    if gray.size == 0:
        raise ImageReadError(path, "the image is empty")
    return gray


def _upright(image):
    """The image turned as its EXIF orientation says; a damaged EXIF block leaves it as stored."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, ValueError, TypeError, KeyError, struct.error):
        return image


def _to_gray(image, path: str | os.PathLike) -> np.ndarray:
    """An opened, loaded Pillow image as float32 grayscale in [0, 1], transparency as white."""
    from PIL import Image

    if image.mode in _HIGH_DEPTH_MODES:
        raw = np.asarray(image)
        gray = _scale_deep(raw.astype(np.float32), image.mode, path)
        if isinstance(image.info.get("transparency"), int):  # a 16-bit PNG's tRNS value: paper
            gray[raw == image.info["transparency"]] = 1.0
        return gray
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _scale_deep(values: np.ndarray, mode: str, path: str | os.PathLike) -> np.ndarray:
    """A 16-bit, 32-bit integer or float image scaled into [0, 1].

    By 255 or 65535 where the values fit (old Pillow opens 16-bit PNGs as 32-bit), else by its own range."""
    if mode.startswith("I;16"):
        return values / 65535.0
    if values.size == 0:
        return values
    if not np.isfinite(values).all():
        raise ImageReadError(path, "the image has NaN or infinite pixel values")
    low, high = float(values.min()), float(values.max())
    if mode == "F" and low >= 0.0 and high <= 1.0:
        return values
    if low >= 0.0 and high <= 255.0:
        return values / 255.0
    if mode == "I" and low >= 0.0 and high <= 65535.0:
        return values / 65535.0
    if high == low:
        return np.zeros_like(values)  # one flat colour, which prepare_image reports as such
    return (values - low) / (high - low)


def _bomb_error(path: str | os.PathLike, err: Exception, limits: Limits) -> InputFileError:
    """Pillow's decompression-bomb refusal, as our cap's error where ours is what it exceeds."""
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", str(err))
    pixels = int(found.group(1)) if found else None
    if pixels is None or pixels > limits.image_pixels:
        megapixels = f"{pixels / 1e6:.1f} megapixels" if pixels else "too many pixels"
        return limits.exceeded("image_pixels", path, f"is {megapixels}", value=pixels)
    return ImageReadError(
        path, f"is {pixels / 1e6:.1f} megapixels, beyond Pillow's own decompression-bomb stop "
        f"({2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP); raise PIL.Image.MAX_IMAGE_PIXELS as well",
    )


def prepare_image(gray: np.ndarray, source: str | os.PathLike = "<image>") -> np.ndarray:
    """A grayscale image in [0, 1] (any size) as a uint8 28x28 digit; `ImageReadError` if flat."""
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2:
        raise ImageReadError(source, f"expected a 2-D grayscale image, got shape {gray.shape}")
    # the border is mostly background: a light border means dark ink on paper, which MNIST inverts
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    if background > 0.5:
        gray, background = 1.0 - gray, 1.0 - background
    peak = float(gray.max())
    if peak - background < 0.1:
        raise ImageReadError(source, "no digit found: the image is a single flat colour")
    ink = np.clip((gray - background) / (peak - background), 0.0, 1.0)
    ink = ink[_box(ink > INK_THRESHOLD)]

    scale = DIGIT_BOX / max(ink.shape)
    width_before = stroke_width(ink > INK_THRESHOLD)
    if width_before * scale < MIN_STROKE:
        ink = _thickened(ink, int(np.ceil(MIN_STROKE / scale - width_before)))
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
    rows, cols = np.indices(digit.shape)
    centre_y, centre_x = float((rows * digit).sum() / total), float((cols * digit).sum() / total)
    # MNIST's digits have their centre of mass at (14, 14) in pixel indices, not at the geometric
    # middle 13.5: measured on the test set, placing it at 13.5 left them a pixel up and left
    middle = IMAGE_SIDE / 2.0
    top = int(np.clip(round(middle - centre_y), 0, IMAGE_SIDE - digit.shape[0]))
    left = int(np.clip(round(middle - centre_x), 0, IMAGE_SIDE - digit.shape[1]))
    frame = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    prepared = np.round(frame * 255.0).astype(np.uint8)
    box = (prepared > 32)[_box(prepared > 32)]
    if min(box.shape) >= 10 and box.mean() > SOLID_BOX_FILL:
        raise ImageReadError(
            source, f"does not look like a digit: ink fills {box.mean():.0%} of its box, where a "
            "handwritten digit leaves background between its strokes (noise, a scene, a filled shape?)",
        )
    return prepared


def stroke_width(mask: np.ndarray) -> float:
    """The mean stroke width of a boolean ink mask: twice the area over the boundary length."""
    if not mask.any():
        return 0.0
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    boundary = int((mask & ~inside).sum())
    return 2.0 * float(mask.sum()) / boundary


def _thickened(ink: np.ndarray, grow: int) -> np.ndarray:
    """`ink` widened by `grow` pixels down and right (centring by mass cancels the shift), then cropped."""
    out = np.pad(ink, ((0, grow), (0, grow)))
    for axis in (0, 1):
        widened = out.copy()
        for step in range(1, grow + 1):
            target = widened[step:] if axis == 0 else widened[:, step:]
            source = out[:-step] if axis == 0 else out[:, :-step]
            np.maximum(target, source, out=target)
        out = widened
    return out[_box(out > INK_THRESHOLD)]


def _box(mask: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of the smallest box holding every True of a non-empty 2-D mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def load_images(paths: list[str | os.PathLike], limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """Read and prepare image files within `limits`: uint8 (N, 28, 28), in the order given."""
    return np.stack([prepare_image(read_image(path, limits), path) for path in paths])
