"""MNIST-C's 15 corruptions (Mu & Gilmer 2019, arXiv 1906.02337), batched, and a model's accuracy under each.

Written from google-research/mnist-c `corruptions.py` at its default severities, on NumPy and SciPy.
Each takes images (N, 28, 28), uint8 or float in [0, 1], and a seed, and returns the same shape, dtype
and range; every random choice comes from `numpy.random.default_rng(seed)`. A regenerated set matches
the released one's distribution, not its files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from mnist_cnn.constants import CORRUPTION_SEED

CORRUPTIONS: dict[str, Callable[..., np.ndarray]] = {}  # MNIST-C's names, in its order
_GRID = np.mgrid[0:28, 0:28] - 13.5  # row and column offsets from the centre the reference keeps fixed


def _corruption(fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]):
    def corrupt(images: np.ndarray, seed: int = CORRUPTION_SEED) -> np.ndarray:
        x = np.asarray(images)
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise ValueError(f"{fn.__name__}: images must be (N, 28, 28), not {x.shape}")
        y = fn(x / 255.0 if x.dtype == np.uint8 else x.astype(np.float64), np.random.default_rng(seed))
        y = np.clip(y, 0, 1)
        return np.rint(y * 255).astype(np.uint8) if x.dtype == np.uint8 else y.astype(x.dtype)

    corrupt.__name__, corrupt.__doc__ = fn.__name__, fn.__doc__
    CORRUPTIONS[fn.__name__] = corrupt
    return corrupt


def _warp(x: np.ndarray, matrix: np.ndarray, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """skimage's `warp` (bilinear, zeros outside) with per-image (x, y) matrices about the centre."""
    m = np.broadcast_to(matrix, (len(x), 2, 2))[..., None, None]
    shift = np.broadcast_to(shift, (len(x), 2))[..., None, None]
    cols = m[:, 0, 0] * _GRID[1] + m[:, 0, 1] * _GRID[0] + 13.5 + shift[:, 0]
    rows = m[:, 1, 0] * _GRID[1] + m[:, 1, 1] * _GRID[0] + 13.5 + shift[:, 1]
    index = np.broadcast_to(np.arange(len(x), dtype=float)[:, None, None], rows.shape)
    return ndimage.map_coordinates(x, [index, rows, cols], order=1, mode="grid-constant")


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice([-1.0, 1.0], n)


def _gaussian(x: np.ndarray, sigma, mode: str = "nearest") -> np.ndarray:
    return ndimage.gaussian_filter(x, (0, *np.broadcast_to(sigma, 2)), mode=mode)


def _line(c0, r0, c1, r1) -> np.ndarray:
    """The reference's `line_from_points`: a stroke fading over 2.3 pixels, per row of endpoints."""
    c0, r0, c1, r1 = (np.asarray(v, float)[..., None, None] for v in (c0, r0, c1, r1))
    cc = np.arange(28.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.clip(np.abs(cc[:, None] - ((r1 - r0) / (c1 - c0) * (cc - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - dist / 2.3) + 1, 0, 1)
    return np.where((cc < np.floor(c0)) | (cc >= np.ceil(c1)) | (c1 == c0), 0.0, line)


@_corruption
def shot_noise(x, rng):
    """Poisson noise: photon counts at 3 per full-white pixel (severity 5)."""
    return rng.poisson(x * 3) / 3


@_corruption
def impulse_noise(x, rng):
    """Salt and pepper on 17 % of the pixels, half each (severity 4)."""
    flipped, salt = rng.random(x.shape) < 0.17, rng.random(x.shape) < 0.5
    return np.where(flipped, salt, x)


@_corruption
def glass_blur(x, rng):
    """Blur, neighbour swaps in two passes, blur (severity 1: sigma 0.7, swaps of up to one pixel).

    As in the reference, where `gaussian(..., multichannel=True)` on a 2-D image took the columns
    for channels, the blur runs along the columns only (vertically).
    """
    x = np.floor(_gaussian(x, (0.7, 0)) * 255) / 255
    n = np.arange(len(x))
    for _ in range(2):
        for h in range(27, 1, -1):
            for w in range(27, 1, -1):
                i = n[rng.random(len(x)) < 0.5]
                dx, dy = rng.integers(-1, 1, size=(2, len(i)))
                x[i, h, w], x[i, h + dy, w + dx] = x[i, h + dy, w + dx], x[i, h, w]
    return _gaussian(x, (0.7, 0))


@_corruption
def motion_blur(x, rng):
    """An approximation of ImageMagick's motion blur (radius 10, sigma 3, angle in +-45 degrees).

    The same one-sided Gaussian trail of 21 taps on whole-pixel offsets as ImageMagick's
    MotionBlurImage, edges repeated; the reference's PNG round trip through ImageMagick is not.
    """
    angle, taps = np.deg2rad(rng.uniform(-45, 45, len(x))), np.arange(21)
    weights = np.exp(-(taps**2) / 18.0)
    dx = np.ceil(taps * np.cos(angle)[:, None] - 0.5).astype(int)[..., None, None]
    dy = np.ceil(taps * np.sin(angle)[:, None] - 0.5).astype(int)[..., None, None]
    padded, n = np.pad(x, ((0, 0), (20, 20), (20, 20)), mode="edge"), np.arange(len(x))[:, None, None]
    rows, cols = np.arange(20, 48)[:, None], np.arange(20, 48)
    blurred = sum(w * padded[n, rows + dy[:, t], cols + dx[:, t]] for t, w in enumerate(weights))
    return blurred / weights.sum()


@_corruption
def shear(x, rng):
    """Shear by 0.4 radians either way about the centre (severity 2, skimage 0.14's affine shear)."""
    c = 0.4 * _signs(rng, len(x))
    zero, one = np.zeros_like(c), np.ones_like(c)
    return _warp(x, np.stack([np.stack([one, -np.sin(c)], -1), np.stack([zero, np.cos(c)], -1)], 1))


@_corruption
def scale(x, rng):
    """Shrink to 70 % about the centre (severity 3)."""
    return _warp(x, np.eye(2) / 0.7)


@_corruption
def rotate(x, rng):
    """Rotate by 0.4 radians (23 degrees) either way about the centre (severity 2)."""
    c = 0.4 * _signs(rng, len(x))
    cos, sin = np.cos(c), np.sin(c)
    return _warp(x, np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1))


@_corruption
def brightness(x, rng):
    """Grey level plus 0.5, clipped (severity 5; the reference's HSV round trip of a grey image)."""
    return x + 0.5


@_corruption
def translate(x, rng):
    """Shift by 3 pixels along each axis, each direction at random (severity 3)."""
    return _warp(x, np.eye(2), 3 * np.stack([_signs(rng, len(x)), _signs(rng, len(x))], 1))


@_corruption
def stripe(x, rng):
    """Columns 0-6 and 21-27 inverted."""
    x = x.copy()
    x[:, :, :7], x[:, :, 21:] = 1 - x[:, :, :7], 1 - x[:, :, 21:]
    return x


def _plasma(rng: np.random.Generator, n: int, size: int = 256, decay: float = 1.4) -> np.ndarray:
    """The reference's diamond-square height maps (wrapping), each scaled to [0, 1]; its top-left 28x28."""
    m, step, wibble = np.zeros((n, size, size), np.float32), size, 100.0  # float32: twice as fast

    def wibbled(a: np.ndarray) -> np.ndarray:
        return a / 4 + np.float32(wibble**2) * (2 * rng.random(a.shape, np.float32) - 1)

    while step >= 2:
        half = step // 2
        corner = np.ascontiguousarray(m[:, ::step, ::step])
        square = corner + np.roll(corner, -1, axis=1)
        mid = m[:, half::step, half::step] = wibbled(square + np.roll(square, -1, axis=2))
        m[:, ::step, half::step] = wibbled(mid + np.roll(mid, 1, 1) + (corner + np.roll(corner, -1, 2)))
        m[:, half::step, ::step] = wibbled(mid + np.roll(mid, 1, 2) + (corner + np.roll(corner, -1, 1)))
        step, wibble = half, wibble / decay
    low, high = m.min(axis=(1, 2), keepdims=True), m.max(axis=(1, 2), keepdims=True)
    return (m[:, :28, :28] - low) / (high - low)


@_corruption
def fog(x, rng):
    """Plasma-fractal fog of weight 3, then scaled back to the image's peak (severity 5)."""
    fractal = np.concatenate([_plasma(rng, len(x[i:i + 128])) for i in range(0, len(x), 128)] or [x])
    peak = x.max(axis=(1, 2), keepdims=True)
    return (x + 3 * fractal) * peak / (peak + 3)


@_corruption
def spatter(x, rng):
    """Blurred, thresholded noise blots in grey 63/255 (severity 4)."""
    liquid = _gaussian(rng.normal(0.65, 0.3, x.shape), 1)
    mask = _gaussian((liquid > 0.65).astype(float), 1.5)
    mask[mask < 0.8] = 0
    return x * (1 - mask) + 63 / 255 * mask


@_corruption
def dotted_line(x, rng):
    """A line across the image between random rows, dashed in 2-pixel steps."""
    r0, r1 = rng.integers(0, 27, size=(2, len(x)))
    line = _line(0, r0, 27, r1)
    line[:, :, np.arange(28) // 2 % 2 == 0] = 0
    return x + line


def _zigzag(rise: int) -> np.ndarray:
    """The reference's zigzag from column 2 to 25 rising `rise` rows: its corners (2, K) about row 0."""
    theta = np.arctan(rise / 23)
    d = 23 / np.cos(theta)
    points = [(0.0, 0.0)] + [((2 * i + 1) * 2.0, (-1) ** i * 2.0) for i in range(int((d - 2) // 4) + 1)]
    if d != 4 * (d // 4):
        points.append((d, points[-1][1] / (2 * (d - 4 * (d // 4)))))
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return rotation @ np.array(points).T + [[2], [0]]


@_corruption
def zigzag(x, rng):
    """A zigzag line of 2-pixel teeth across the image from a random row, rising -5 to 4 rows."""
    r0, rise = rng.integers(0, 27, len(x)), rng.integers(-5, 5, len(x))
    x = x.copy()
    for r in np.unique(rise):
        chosen = rise == r
        (cs, rs), start = _zigzag(r), r0[chosen, None]
        x[chosen] += _line(cs[:-1], rs[:-1] + start, cs[1:], rs[1:] + start).sum(axis=1)
    return x


@_corruption
def canny_edges(x, rng):
    """Canny's edges as white on black: scikit-image 0.14's `feature.canny` (sigma 1, thresholds 0.1, 0.2)."""
    bleed = _gaussian(np.ones_like(x[:1]), 1, "constant") + np.finfo(float).eps
    smooth = _gaussian(x, 1, "constant") / bleed
    grad = []  # scipy's sobel along one image axis, smoothing along the other only (never across images)
    for axis in (1, 2):
        g = ndimage.correlate1d(smooth, [-1, 0, 1], axis=axis, mode="reflect")
        grad.append(ndimage.correlate1d(g, [1, 2, 1], axis=3 - axis, mode="reflect"))
    (gi, gj), magnitude = grad, np.hypot(*grad)
    ai, aj = np.abs(gi), np.abs(gj)
    padded = np.pad(magnitude, ((0, 0), (1, 1), (1, 1)))

    def at(dr: int, dc: int) -> np.ndarray:
        return padded[:, 1 + dr:29 + dr, 1 + dc:29 + dc]

    same = (gi >= 0) & (gj >= 0) | (gi <= 0) & (gj <= 0)
    opposite = (gi <= 0) & (gj >= 0) | (gi >= 0) & (gj <= 0)
    valid = np.pad(np.ones((26, 26), bool), 1) & (magnitude > 0)
    maxima = np.zeros(x.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):  # non-maximum suppression, its four sectors
        for sector, w, (r1, c1), (r2, c2) in ((same & (ai >= aj), aj / ai, (1, 0), (1, 1)),
                                              (same & (ai <= aj), ai / aj, (0, 1), (1, 1)),
                                              (opposite & (ai <= aj), ai / aj, (0, 1), (-1, 1)),
                                              (opposite & (ai >= aj), aj / ai, (-1, 0), (-1, 1))):
            ahead = at(r2, c2) * w + at(r1, c1) * (1 - w) <= magnitude
            behind = at(-r2, -c2) * w + at(-r1, -c1) * (1 - w) <= magnitude
            maxima = np.where(sector & valid, ahead & behind, maxima)
    within_an_image = np.pad(np.ones((1, 3, 3)), ((1, 1), (0, 0), (0, 0)))
    labels, count = ndimage.label(maxima & (magnitude >= 0.1), within_an_image)
    strong = np.zeros(count + 1, bool)
    strong[labels[maxima & (magnitude >= 0.2)]] = True
    strong[0] = False
    return strong[labels].astype(float)


def corruption_accuracies(
    model, images: np.ndarray, labels: np.ndarray, seed: int = CORRUPTION_SEED
) -> dict[str, float]:
    """Accuracy of `model` on uint8 `images` under each corruption, one corruption in memory at a time."""
    from mnist_cnn.evaluation.metrics import predict_probabilities

    return {name: float((predict_probabilities(model, corrupt(images, seed)).argmax(axis=1) == labels).mean())
            for name, corrupt in CORRUPTIONS.items()}


def corruption_record(model, images: np.ndarray, labels: np.ndarray, seed: int = CORRUPTION_SEED) -> dict:
    """metrics.json's entries: `corruptions` (name: accuracy), their mean, and the seed."""
    accuracies = corruption_accuracies(model, images, labels, seed)
    return {"corruptions": accuracies, "corruption_mean": float(np.mean(list(accuracies.values()))),
            "corruption_seed": seed}
