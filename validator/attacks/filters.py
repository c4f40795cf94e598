"""Image filters the corruptions need, in numpy alone (H x W x C float64 images).

Separable filters and resampling along one axis are expressed as small dense matrices (H x H):
exact for any kernel size and boundary mode, and fast at the sizes models take. Boundary modes
follow scipy's names: ``reflect`` (d c b a | a b c d), ``mirror`` (d c b | a b c d, OpenCV's
default), ``nearest`` (a a a | a b c d).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def fold(index: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map (possibly out-of-range) integer indices into ``[0, n)`` by the boundary ``mode``."""
    index = np.asarray(index, dtype=np.int64)
    if n == 1:
        return np.zeros_like(index)
    if mode == "nearest":
        return np.asarray(np.clip(index, 0, n - 1))
    if mode == "mirror":
        period = 2 * n - 2
        folded = np.mod(index, period)
        return np.asarray(np.where(folded >= n, period - folded, folded))
    period = 2 * n  # reflect
    folded = np.mod(index, period)
    return np.asarray(np.where(folded >= n, period - 1 - folded, folded))


def correlation_matrix(n: int, kernel: np.ndarray, mode: str) -> np.ndarray:
    """The n x n matrix of a centred 1-D correlation with ``kernel`` under boundary ``mode``."""
    radius = len(kernel) // 2
    rows = np.arange(n)
    columns = fold(rows[:, None] + np.arange(len(kernel))[None, :] - radius, n, mode)
    matrix = np.zeros((n, n))
    np.add.at(matrix, (np.broadcast_to(rows[:, None], columns.shape), columns), kernel[None, :])
    return matrix


@lru_cache(maxsize=64)
def _gaussian_matrix(n: int, sigma: float, mode: str, truncate: float) -> np.ndarray:
    radius = max(int(truncate * sigma + 0.5), 1)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    return correlation_matrix(n, kernel / kernel.sum(), mode)


def separable(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Apply ``rows`` (H' x H) along the first axis and ``cols`` (W' x W) along the second."""
    if image.ndim == 2:
        return np.asarray(rows @ image @ cols.T)
    h, w, c = image.shape  # two large 2-D products rather than many small ones
    down = (rows @ image.reshape(h, w * c)).reshape(-1, w, c)
    across = cols @ np.ascontiguousarray(np.swapaxes(down, 0, 1)).reshape(w, -1)
    return np.ascontiguousarray(np.swapaxes(across.reshape(-1, down.shape[0], c), 0, 1))


def gaussian(
    image: np.ndarray, sigma: float, mode: str = "nearest", truncate: float = 4.0
) -> np.ndarray:
    """Gaussian blur over the two spatial axes (scipy.ndimage.gaussian_filter semantics)."""
    h, w = image.shape[:2]
    rows = _gaussian_matrix(h, float(sigma), mode, float(truncate))
    cols = _gaussian_matrix(w, float(sigma), mode, float(truncate))
    return separable(image, rows, cols)


@lru_cache(maxsize=256)
def _zoom_taps(n: int, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre crop of ``ceil(n / factor)`` samples, linearly upsampled by ``factor`` (scipy's
    zoom, order 1) and trimmed back to ``n``: imagecorruptions' ``clipped_zoom`` along one axis,
    as the two source samples of each output sample and the second one's weight."""
    crop = math.ceil(n / factor)
    top = (n - crop) // 2
    size = round(crop * factor)
    trim = (size - n) // 2
    out = np.arange(n) + trim
    coord = top + out * ((crop - 1) / (size - 1) if size > 1 else 0.0)
    low = np.clip(np.floor(coord).astype(np.int64), 0, n - 1)
    high = np.clip(low + 1, 0, n - 1)
    return low, high, coord - low


def _zoom_axis(image: np.ndarray, taps: tuple[np.ndarray, ...], axis: int) -> np.ndarray:
    """Linear interpolation along ``axis``: two samples per output, not a dense n x n product
    (zoom blur sums up to 31 zooms per image: the products were most of the corruptions' time)."""
    low, high, frac = taps
    shape = [1] * image.ndim
    shape[axis] = len(frac)
    weight = frac.reshape(shape)
    first = np.take(image, low, axis=axis)
    return np.asarray(first + (np.take(image, high, axis=axis) - first) * weight)


def clipped_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by ``factor`` keeping the size."""
    h, w = image.shape[:2]
    down = _zoom_axis(image, _zoom_taps(h, float(factor)), 0)
    return _zoom_axis(down, _zoom_taps(w, float(factor)), 1)


def convolve(image: np.ndarray, kernel: np.ndarray, mode: str = "mirror") -> np.ndarray:
    """2-D correlation of each channel with an odd square ``kernel`` (OpenCV's filter2D), by FFT
    over the image padded by the kernel radius."""
    h, w = image.shape[:2]
    r = kernel.shape[0] // 2
    rows, cols = fold(np.arange(-r, h + r), h, mode), fold(np.arange(-r, w + r), w, mode)
    padded = image[rows][:, cols]
    shape = padded.shape[:2]
    spectrum = np.fft.rfft2(padded, s=shape, axes=(0, 1))
    flipped = kernel[::-1, ::-1]
    response = np.fft.rfft2(flipped, s=shape)
    full = np.fft.irfft2(spectrum * response[..., None], s=shape, axes=(0, 1))
    return np.asarray(full[2 * r : 2 * r + h, 2 * r : 2 * r + w])


def sample(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, mode: str) -> np.ndarray:
    """Bilinear sampling of ``image`` (H x W x C) at coordinate fields ``ys``, ``xs`` (H' x W')."""
    h, w = image.shape[:2]
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    ya, yb = fold(y0, h, mode), fold(y0 + 1, h, mode)
    xa, xb = fold(x0, w, mode), fold(x0 + 1, w, mode)
    top = image[ya, xa] * (1 - fx) + image[ya, xb] * fx
    bottom = image[yb, xa] * (1 - fx) + image[yb, xb] * fx
    return np.asarray(top * (1 - fy) + bottom * fy)


def motion_blur(image: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """One-sided Gaussian-weighted streak along ``angle`` degrees (ImageMagick's motion blur, as
    re-implemented by the imagecorruptions package)."""
    width = radius * 2 + 1
    kernel = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()
    py, px = width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle))
    hyp = math.hypot(py, px)
    h, w = image.shape[:2]
    # Each tap reads a window of the image padded once with its edges (a whole-pixel shift
    # that repeats the edge into the uncovered band), without copying the image per tap.
    padded = np.pad(image, ((width, width), (width, width)) + ((0, 0),) * (image.ndim - 2), "edge")
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(i * py / hyp - 0.5)
        dx = -math.ceil(i * px / hyp - 0.5)
        if abs(dy) >= h or abs(dx) >= w:
            break
        out += kernel[i] * padded[width - dy : width - dy + h, width - dx : width - dx + w]
    return out


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] to HSV in [0, 1] (same conventions as skimage.color.rgb2hsv)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    span = v - rgb.min(axis=-1)
    safe = np.where(span == 0, 1.0, span)
    s = np.where(v == 0, 0.0, span / np.where(v == 0, 1.0, v))
    h = np.select([r == v, g == v], [(g - b) / safe, 2.0 + (b - r) / safe], 4.0 + (r - g) / safe)
    h = np.where(span == 0, 0.0, (h / 6.0) % 1.0)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] back to RGB in [0, 1]."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    channels = [np.choose(i, [c[k] for c in choices]) for k in range(3)]
    return np.stack(channels, axis=-1)


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """Diamond-square fractal noise in [0, 1] on a ``size`` x ``size`` grid (power of two)."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        grid[half:size:step, half:size:step] = wibbled(square)
        centres = grid[half:size:step, half:size:step]
        corners = grid[0:size:step, 0:size:step]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        grid[0:size:step, half:size:step] = wibbled(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        grid[half:size:step, 0:size:step] = wibbled(top)
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return np.asarray(grid / max(grid.max(), 1e-12))
