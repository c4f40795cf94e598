"""Common image corruptions in plain numpy (ImageNet-C style, 5 severities each).

Every function maps an ``(H, W, 3)`` float64 RGB image in [0, 1] to a corrupted one, using only
the ``numpy.random.Generator`` it is given, so results are reproducible byte for byte (nothing
depends on an image library's codec version: even JPEG is re-implemented here).

The parameters are scaled for the 64 x 64 reference images (blur radii, pixel blocks, frost
crystals are in stored-image pixels).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from render import fractal_noise

Array = np.ndarray
Corruption = Callable[[Array, int, np.random.Generator], Array]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def convolve(img: Array, kernel: Array) -> Array:
    """2-D convolution of each channel with ``kernel`` (odd size), edges replicated."""
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    padded = np.pad(img, ((ph, ph), (pw, pw), (0, 0)), mode="edge")
    h, w = img.shape[:2]
    out = np.zeros_like(img)
    for dy in range(kh):
        for dx in range(kw):
            if kernel[dy, dx] != 0:
                out += kernel[dy, dx] * padded[dy : dy + h, dx : dx + w]
    return out


def gaussian_kernel(sigma: float) -> Array:
    """Normalised 2-D Gaussian kernel of radius ceil(3 sigma)."""
    r = max(math.ceil(3 * sigma), 1)
    x = np.arange(-r, r + 1)
    g = np.exp(-(x**2) / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def disk_kernel(radius: float) -> Array:
    """Normalised anti-aliased disk (defocus) kernel."""
    r = math.ceil(radius)
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    k = np.clip(radius + 0.5 - np.sqrt(x**2 + y**2), 0, 1)
    return k / k.sum()


def line_kernel(length: int, angle: float) -> Array:
    """Normalised motion-blur kernel: an anti-aliased line segment through the centre."""
    r = length // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    c, s = math.cos(angle), math.sin(angle)
    along = x * c + y * s
    across = -x * s + y * c
    k = np.clip(1 - np.abs(across), 0, 1) * (np.abs(along) <= r + 0.5)
    return k / k.sum()


# --------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------


def gaussian_noise(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Additive Gaussian noise, sigma 0.04 .. 0.14."""
    sigma = [0.04, 0.06, 0.08, 0.11, 0.14][severity - 1]
    return img + rng.normal(0, sigma, img.shape)


def shot_noise(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Poisson (photon) noise: ``poisson(x * c) / c``, c = 60 .. 4."""
    c = [60, 30, 15, 8, 4][severity - 1]
    return rng.poisson(img * c) / c


def impulse_noise(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Salt-and-pepper noise on a fraction 0.02 .. 0.15 of the sub-pixels."""
    amount = [0.02, 0.04, 0.07, 0.1, 0.15][severity - 1]
    out = img.copy()
    u = rng.uniform(0, 1, img.shape)
    out[u < amount / 2] = 0.0
    out[u > 1 - amount / 2] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# Blur
# --------------------------------------------------------------------------------------------


def gaussian_blur(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Gaussian blur, sigma 0.6 .. 1.8 stored pixels."""
    return convolve(img, gaussian_kernel([0.6, 0.85, 1.1, 1.4, 1.8][severity - 1]))


def defocus_blur(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Defocus (disk) blur, radius 1 .. 3 stored pixels."""
    return convolve(img, disk_kernel([1.0, 1.5, 2.0, 2.5, 3.0][severity - 1]))


def motion_blur(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Linear motion blur, length 3 .. 11 pixels, random direction."""
    length = [3, 5, 7, 9, 11][severity - 1]
    return convolve(img, line_kernel(length, rng.uniform(0, math.pi)))


# --------------------------------------------------------------------------------------------
# Weather
# --------------------------------------------------------------------------------------------


def fog(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Fog: a smooth fractal haze added, then the range compressed (as ImageNet-C's fog)."""
    strength, cells = [(0.5, 2), (0.75, 2), (1.0, 2), (1.3, 2), (1.6, 1)][severity - 1]
    haze = fractal_noise(rng, img.shape[0], cells, 3)[..., None]
    peak = img.max()
    return (img + strength * haze) * peak / (peak + strength)


def frost(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Frost: an icy layer of random short bright crystals and milky patches blended over."""
    size = img.shape[0]
    img_w, ice_w = [(1.0, 0.35), (0.95, 0.45), (0.9, 0.55), (0.85, 0.65), (0.8, 0.75)][
        severity - 1
    ]
    y, x = np.mgrid[0:size, 0:size] + 0.5
    ice = 0.35 * fractal_noise(rng, size, 3, 3)
    for _ in range(40 + 12 * severity):
        p = rng.uniform(0, size, 2)
        a = rng.uniform(0, math.pi)
        length = rng.uniform(2, 7)
        along = (x - p[0]) * math.cos(a) + (y - p[1]) * math.sin(a)
        across = -(x - p[0]) * math.sin(a) + (y - p[1]) * math.cos(a)
        seg = np.clip(1 - np.abs(across), 0, 1) * (np.abs(along) < length)
        ice = np.maximum(ice, seg * rng.uniform(0.6, 1.0))
    tint = np.array([0.85, 0.92, 1.0])
    return img_w * img + ice_w * ice[..., None] * tint


def snow(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Snow: random flakes (small bright dots, motion-blurred) and a whitened sky."""
    size = img.shape[0]
    density, whiten = [(0.02, 0.1), (0.035, 0.15), (0.05, 0.2), (0.07, 0.25), (0.1, 0.3)][
        severity - 1
    ]
    flakes = (rng.uniform(0, 1, (size, size)) < density).astype(np.float64)
    flakes = convolve(flakes[..., None], line_kernel(5, rng.uniform(0.3, 1.2)))[..., 0] * 3
    base = img * (1 - whiten) + whiten * img.mean(axis=2, keepdims=True) * 1.5
    return np.maximum(base, np.clip(flakes, 0, 1)[..., None])


# --------------------------------------------------------------------------------------------
# Digital
# --------------------------------------------------------------------------------------------


def brightness(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Brighter or darker (random sign): shift of 0.15 .. 0.5 in value."""
    shift = [0.15, 0.25, 0.35, 0.42, 0.5][severity - 1]
    return img + shift * (1 if rng.uniform() < 0.6 else -1)


def contrast(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Contrast reduction towards the mean, factor 0.4 .. 0.08."""
    c = [0.4, 0.3, 0.2, 0.13, 0.08][severity - 1]
    mean = img.mean(axis=(0, 1), keepdims=True)
    return (img - mean) * c + mean


def pixelate(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """Average over b x b blocks (b = 2 .. 6, random grid offset), shown as flat blocks."""
    b = [2, 3, 4, 5, 6][severity - 1]
    size = img.shape[0]
    off = int(rng.integers(0, b))
    edges = sorted({0, size, *range(off, size, b)})
    out = np.empty_like(img)
    for y0, y1 in itertools.pairwise(edges):
        for x0, x1 in itertools.pairwise(edges):
            out[y0:y1, x0:x1] = img[y0:y1, x0:x1].mean(axis=(0, 1))
    return out


# Standard JPEG quantisation tables (ITU-T T.81, Annex K).
_Q_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
     56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104,
     113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
).reshape(8, 8)
_Q_CHROMA = np.array(
    [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99,
     99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32,
    dtype=np.float64,
).reshape(8, 8)


def _quant_table(base: Array, quality: int) -> Array:
    """IJG quality scaling of a quantisation table."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


def _dct_matrix() -> Array:
    """Orthonormal 8-point DCT-II matrix."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    m = np.cos(math.pi * (2 * n + 1) * k / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m


def _jpeg_plane(plane: Array, table: Array) -> Array:
    """DCT, quantise, dequantise, inverse DCT of one plane (sides multiple of 8, level-shifted)."""
    d = _dct_matrix()
    h, w = plane.shape
    blocks = plane.reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    coef = d @ blocks @ d.T
    coef = np.round(coef / table) * table
    back = d.T @ coef @ d
    return back.transpose(0, 2, 1, 3).reshape(h, w)


def jpeg_roundtrip(img: Array, quality: int) -> Array:
    """Baseline JPEG compression and decompression (YCbCr, 4:2:0, IJG tables), numpy only."""
    h, w = img.shape[:2]
    ph, pw = -h % 16, -w % 16
    rgb = np.pad(np.round(img * 255), ((0, ph), (0, pw), (0, 0)), mode="edge")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    y2 = _jpeg_plane(y - 128, _quant_table(_Q_LUMA, quality)) + 128
    chroma = []
    for c in (cb, cr):
        hh, ww = c.shape
        small = c.reshape(hh // 2, 2, ww // 2, 2).mean(axis=(1, 3))
        small = _jpeg_plane(small - 128, _quant_table(_Q_CHROMA, quality)) + 128
        chroma.append(np.repeat(np.repeat(small, 2, axis=0), 2, axis=1))
    cb2, cr2 = chroma
    out = np.stack(
        [y2 + 1.402 * (cr2 - 128), y2 - 0.344136 * (cb2 - 128) - 0.714136 * (cr2 - 128),
         y2 + 1.772 * (cb2 - 128)],
        axis=-1,
    )
    return np.clip(np.round(out), 0, 255)[:h, :w] / 255


def jpeg(img: Array, severity: int, rng: np.random.Generator) -> Array:
    """JPEG compression at quality 25 .. 6."""
    return jpeg_roundtrip(img, [25, 18, 12, 8, 6][severity - 1])


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "gaussian_blur": gaussian_blur,
    "defocus_blur": defocus_blur,
    "motion_blur": motion_blur,
    "fog": fog,
    "frost": frost,
    "snow": snow,
    "brightness": brightness,
    "contrast": contrast,
    "pixelate": pixelate,
    "jpeg": jpeg,
}
"""Name -> function ``(image, severity 1..5, rng) -> image`` (result clipped by the caller)."""


def apply(name: str, img_uint8: Array, severity: int, rng: np.random.Generator) -> Array:
    """Corrupt an ``(H, W, 3)`` uint8 image; returns uint8 (rounded and clipped)."""
    out = CORRUPTIONS[name](img_uint8.astype(np.float64) / 255, severity, rng)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)
