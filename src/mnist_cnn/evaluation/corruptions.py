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
from mnist_cnn.evaluation.metrics import predict_probabilities

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


def _warp(x: np.ndarray, a, b, c, d, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """skimage's `warp` (bilinear, zeros outside) by the (x, y) matrix [[a, b], [c, d]] about the
    centre, the entries per image or shared; `shift` (N, 2) moves by (x, y)."""
    a, b, c, d = (np.broadcast_to(v, len(x))[:, None, None] for v in (a, b, c, d))
    shift = np.broadcast_to(shift, (len(x), 2))[..., None, None]
    cols = a * _GRID[1] + b * _GRID[0] + 13.5 + shift[:, 0]
    rows = c * _GRID[1] + d * _GRID[0] + 13.5 + shift[:, 1]
    index = np.broadcast_to(np.arange(len(x), dtype=float)[:, None, None], rows.shape)
    return ndimage.map_coordinates(x, [index, rows, cols], order=1, mode="grid-constant")


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
    """Blur, two passes of neighbour swaps, blur (severity 1); vertical blurs, as the reference's
    `gaussian(..., multichannel=True)` on 2-D images took the columns for channels."""
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
    """Approximates ImageMagick's motion blur (radius 10, sigma 3, angle within 45 degrees): its
    one-sided Gaussian trail of 21 whole-pixel taps, edges repeated, without its PNG round trip."""
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
    c = 0.4 * rng.choice([-1.0, 1.0], len(x))
    return _warp(x, 1, -np.sin(c), 0, np.cos(c))


@_corruption
def scale(x, rng):
    """Shrink to 70 % about the centre (severity 3)."""
    return _warp(x, 1 / 0.7, 0, 0, 1 / 0.7)


@_corruption
def rotate(x, rng):
    """Rotate by 0.4 radians (23 degrees) either way about the centre (severity 2)."""
    c = 0.4 * rng.choice([-1.0, 1.0], len(x))
    return _warp(x, np.cos(c), -np.sin(c), np.sin(c), np.cos(c))


@_corruption
def brightness(x, rng):
    """Grey level plus 0.5, clipped (severity 5; the reference's HSV round trip of a grey image)."""
    return x + 0.5


@_corruption
def translate(x, rng):
    """Shift by 3 pixels along each axis, each direction at random (severity 3)."""
    return _warp(x, 1, 0, 0, 1, 3 * rng.choice([-1.0, 1.0], (len(x), 2)))


@_corruption
def stripe(x, rng):
    """Columns 0-6 and 21-27 inverted."""
    return np.concatenate([1 - x[:, :, :7], x[:, :, 7:21], 1 - x[:, :, 21:]], axis=2)


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


@_corruption
def zigzag(x, rng):
    """A zigzag of 2-pixel teeth from column 2 to 25, from a random row rising -5 to 4 rows."""
    r0, rise, x = rng.integers(0, 27, len(x)), rng.integers(-5, 5, len(x)), x.copy()
    for r in np.unique(rise):  # the reference's corners for this rise, then its lines between them
        theta = np.arctan(r / 23)
        d = 23 / np.cos(theta)
        points = [(0.0, 0.0)] + [((2 * i + 1) * 2.0, (-1) ** i * 2.0) for i in range(int((d - 2) // 4) + 1)]
        if d != 4 * (d // 4):
            points.append((d, points[-1][1] / (2 * (d - 4 * (d // 4)))))
        turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        cs, rs = turn @ np.array(points).T
        rows = r0[rise == r, None] + rs
        x[rise == r] += _line(cs[:-1] + 2, rows[:, :-1], cs[1:] + 2, rows[:, 1:]).sum(axis=1)
    return x


@_corruption
def canny_edges(x, rng):
    """Canny's edges, white on black: scikit-image's `feature.canny` (sigma 1, thresholds 0.1 and 0.2)."""
    bleed = _gaussian(np.ones_like(x[:1]), 1, "constant") + np.finfo(float).eps  # normalises the border
    smooth = _gaussian(x, 1, "constant") / bleed
    # scipy's sobel along one image axis, smoothing along the other only (never across images)
    gi, gj = (ndimage.correlate1d(ndimage.correlate1d(smooth, [-1, 0, 1], axis, mode="reflect"),
                                  [1, 2, 1], 3 - axis, mode="reflect") for axis in (1, 2))
    magnitude, ai, aj = np.hypot(gi, gj), np.abs(gi), np.abs(gj)
    same = (gi >= 0) & (gj >= 0) | (gi <= 0) & (gj <= 0)
    opposite = (gi <= 0) & (gj >= 0) | (gi >= 0) & (gj <= 0)
    valid, maxima = np.pad(np.ones((26, 26), bool), 1) & (magnitude > 0), np.zeros(x.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):  # non-maximum suppression in four sectors
        for sector, w, (r1, c1), (r2, c2) in ((same & (ai >= aj), aj / ai, (1, 0), (1, 1)),
                                              (same & (ai <= aj), ai / aj, (0, 1), (1, 1)),
                                              (opposite & (ai <= aj), ai / aj, (0, 1), (-1, 1)),
                                              (opposite & (ai >= aj), aj / ai, (-1, 0), (-1, 1))):
            # the neighbours each side along the gradient (rolls wrap only into the border, never valid)
            kept = [np.roll(magnitude, (-s * r2, -s * c2), (1, 2)) * w
                    + np.roll(magnitude, (-s * r1, -s * c1), (1, 2)) * (1 - w) <= magnitude for s in (1, -1)]
            maxima = np.where(sector & valid, kept[0] & kept[1], maxima)
    within_an_image = np.pad(np.ones((1, 3, 3)), ((1, 1), (0, 0), (0, 0)))
    labels, count = ndimage.label(maxima & (magnitude >= 0.1), within_an_image)
    strong = np.zeros(count + 1, bool)  # hysteresis: weak edges joined to a strong one
    strong[labels[maxima & (magnitude >= 0.2)]] = True
    strong[0] = False
    return strong[labels].astype(float)


def corruption_record(model, images: np.ndarray, labels: np.ndarray, seed: int = CORRUPTION_SEED) -> dict:
    """Accuracy of `model` on uint8 `images` under each corruption (one in memory at a time), the mean
    and the seed: metrics.json's `corruptions`, `corruption_mean` and `corruption_seed`."""
    accuracies = {name: float((predict_probabilities(model, f(images, seed)).argmax(axis=1) == labels).mean())
                  for name, f in CORRUPTIONS.items()}
    return {"corruptions": accuracies, "corruption_mean": float(np.mean(list(accuracies.values()))),
            "corruption_seed": seed}
