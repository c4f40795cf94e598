"""Procedural renderer of one reference image (numpy only).

An image shows one object, the class being (shape family, fill pattern), on a varied background:

* shape: one of :data:`common.SHAPES`, given as a signed distance function (SDF) in the object's
  own frame (unit radius), so rotation, scale and position are a change of coordinates;
* pattern: one of :data:`common.PATTERNS`, also drawn in the object's frame (it turns with it), two
  random colours (or one colour and see-through for ``outline``), random period and phase;
* background: linear / radial gradient, fractal value noise, a wavy low-contrast texture or a flat
  colour with grain; plus 0-4 clutter strokes;
* photometric jitter: brightness, contrast, Gaussian pixel noise (on some images).

The object is rendered with 3 x 3 super-sampling (anti-aliasing) inside its bounding box. All the
randomness comes from the ``numpy.random.Generator`` handed in, so a seed fixes the bytes.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable

import numpy as np

from common import ClassSpec

SUPERSAMPLE = 3
Array = np.ndarray


# --------------------------------------------------------------------------------------------
# Signed distance functions in the object frame (negative inside, unit ~ object radius).
# --------------------------------------------------------------------------------------------


def sd_polygon(u: Array, v: Array, verts: Array) -> Array:
    """Exact signed distance to a simple polygon (vertices in order), after Inigo Quilez."""
    d = (u - verts[0, 0]) ** 2 + (v - verts[0, 1]) ** 2
    inside = np.zeros(u.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        ax, ay = verts[i - 1]
        bx, by = verts[i]
        ex, ey = ax - bx, ay - by
        wx, wy = u - bx, v - by
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d = np.minimum(d, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
        c1 = v >= by
        c2 = v < ay
        c3 = ex * wy > ey * wx
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        inside ^= flip
    return np.where(inside, -1.0, 1.0) * np.sqrt(d)


def _regular(n: int, radius: float, start: float = -math.pi / 2) -> Array:
    """Vertices of a regular n-gon."""
    a = start + 2 * math.pi * np.arange(n) / n
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def _star(points: int, outer: float, inner: float) -> Array:
    """Vertices of a star polygon."""
    a = -math.pi / 2 + math.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _heart(n: int = 40) -> Array:
    """Vertices of the classic parametric heart, scaled to radius ~1 and centred."""
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    y = y + 2.5
    return np.stack([x, y], axis=1) / 16.0


POLYGONS: dict[str, Array] = {
    "square": np.array([[-0.78, -0.78], [0.78, -0.78], [0.78, 0.78], [-0.78, 0.78]]),
    "triangle": _regular(3, 1.08, -math.pi / 2) + np.array([0.0, 0.18]),
    "rhombus": np.array([[-1.05, 0.0], [0.0, -0.55], [1.05, 0.0], [0.0, 0.55]]),
    "star": _star(5, 1.08, 0.46),
    "cross": np.array(
        [
            [-0.32, -1.0], [0.32, -1.0], [0.32, -0.32], [1.0, -0.32], [1.0, 0.32], [0.32, 0.32],
            [0.32, 1.0], [-0.32, 1.0], [-0.32, 0.32], [-1.0, 0.32], [-1.0, -0.32], [-0.32, -0.32],
        ]
    ),
    "arrow": np.array(
        [[-1.0, -0.24], [0.12, -0.24], [0.12, -0.66], [1.0, 0.0], [0.12, 0.66], [0.12, 0.24],
         [-1.0, 0.24]]
    ),
    "tee": np.array(
        [[-0.95, -0.9], [0.95, -0.9], [0.95, -0.4], [0.27, -0.4], [0.27, 0.95], [-0.27, 0.95],
         [-0.27, -0.4], [-0.95, -0.4]]
    ),
    "heart": _heart(),
    # Open-set shapes of the Track 2 reference data (no Track 1 class uses them).
    "pentagon": _regular(5, 1.0),
    "hexagon": _regular(6, 1.0, 0.0),
    "chevron": np.array([[-1.0, -0.7], [-0.35, -0.7], [0.6, 0.0], [-0.35, 0.7], [-1.0, 0.7],
                         [-0.05, 0.0]]),
    "bowtie": np.array([[-1.0, -0.8], [0.0, -0.15], [1.0, -0.8], [1.0, 0.8], [0.0, 0.15],
                        [-1.0, 0.8]]),
    "kite": np.array([[0.0, -1.05], [0.6, -0.3], [0.0, 1.05], [-0.6, -0.3]]),
}


def shape_sdf(shape: str, u: Array, v: Array) -> Array:
    """Signed distance of points (u, v) (object frame) to the boundary of ``shape``."""
    if shape == "circle":
        return np.sqrt(u * u + v * v) - 0.95
    if shape == "crescent":
        outer = np.sqrt(u * u + v * v) - 0.98
        hole = np.sqrt((u - 0.55) ** 2 + (v + 0.05) ** 2) - 0.72
        return np.maximum(outer, -hole)
    return sd_polygon(u, v, POLYGONS[shape])


# --------------------------------------------------------------------------------------------
# Fill patterns in the object frame: 0 = colour A, 1 = colour B, -1 = see-through.
# --------------------------------------------------------------------------------------------


def _band(x: Array, period: float, phase: float) -> Array:
    """Alternating bands of width period / 2 along x: 0 or 1."""
    return (np.floor(x / (period / 2) + phase) % 2).astype(np.float64)


def pattern_value(pattern: str, u: Array, v: Array, sdf: Array, rng: np.random.Generator) -> Array:
    """Two-tone pattern value of points (u, v); -1 marks points left see-through."""
    phase = rng.uniform(0, 2)
    if pattern == "solid":
        return np.zeros_like(u)
    if pattern == "stripes":
        return _band(u, rng.uniform(0.42, 0.56), phase)
    if pattern == "checker":
        period = rng.uniform(0.55, 0.7)
        return (_band(u, period, phase) + _band(v, period, rng.uniform(0, 2))) % 2
    if pattern == "dots":
        period = rng.uniform(0.5, 0.62)
        fu = (u / period + phase) % 1 - 0.5
        fv = (v / period + rng.uniform(0, 1)) % 1 - 0.5
        return (fu * fu + fv * fv < 0.3**2).astype(np.float64)
    if pattern == "rings":
        return _band(np.sqrt(u * u + v * v), rng.uniform(0.42, 0.54), phase * 0.25)
    if pattern == "outline":
        width = rng.uniform(0.2, 0.27)
        return np.where(sdf > -width, 0.0, -1.0)
    if pattern == "grid":
        period = rng.uniform(0.5, 0.62)
        fu = (u / period + phase) % 1
        fv = (v / period + rng.uniform(0, 1)) % 1
        return ((fu < 0.3) | (fv < 0.3)).astype(np.float64)
    if pattern == "waves":
        wavelength = rng.uniform(0.75, 0.95)
        amp = rng.uniform(0.14, 0.2)
        return _band(u + amp * np.sin(2 * math.pi * v / wavelength + phase * math.pi),
                     rng.uniform(0.5, 0.6), phase)
    if pattern == "split":
        return (u * math.cos(0.3 * phase) + v * math.sin(0.3 * phase) > 0).astype(np.float64)
    if pattern == "spokes":
        sectors = int(rng.integers(6, 9))
        angle = np.arctan2(v, u) + phase * math.pi
        return (np.floor(angle / (2 * math.pi / sectors)) % 2).astype(np.float64)
    raise ValueError(f"unknown pattern {pattern!r}")


# --------------------------------------------------------------------------------------------
# Colours.
# --------------------------------------------------------------------------------------------


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.35, 1.0),
                  val: tuple[float, float] = (0.25, 1.0)) -> Array:
    """A random RGB colour in [0, 1] drawn in HSV."""
    h = rng.uniform(0, 1)
    s = rng.uniform(*sat)
    v = rng.uniform(*val)
    return np.array(colorsys.hsv_to_rgb(h, s, v))


def colour_distance(a: Array, b: Array) -> float:
    """Euclidean RGB distance, in [0, sqrt(3)]."""
    return float(np.linalg.norm(a - b))


def distinct_colour(rng: np.random.Generator, others: list[Array], min_dist: float) -> Array:
    """A random colour at least ``min_dist`` from each of ``others`` (rejection sampling)."""
    best, best_d = random_colour(rng), -1.0
    for _ in range(64):
        c = random_colour(rng)
        d = min((colour_distance(c, o) for o in others), default=9.0)
        if d >= min_dist:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


# --------------------------------------------------------------------------------------------
# Backgrounds.
# --------------------------------------------------------------------------------------------


def value_noise(rng: np.random.Generator, size: int, cells: int) -> Array:
    """Smooth random field in [0, 1]: a random ``cells`` x ``cells`` lattice, bilinear."""
    lattice = rng.uniform(0, 1, (cells + 1, cells + 1))
    x = (np.arange(size) + 0.5) / size * cells
    i = np.minimum(np.floor(x).astype(int), cells - 1)
    f = x - i
    f = f * f * (3 - 2 * f)  # smoothstep
    rows = lattice[i] * (1 - f)[:, None] + lattice[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def fractal_noise(rng: np.random.Generator, size: int, base_cells: int, octaves: int) -> Array:
    """Sum of value-noise octaves, normalised to [0, 1]."""
    total = np.zeros((size, size))
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        total += amp * value_noise(rng, size, base_cells * 2**o)
        norm += amp
        amp *= 0.5
    total /= norm
    lo, hi = total.min(), total.max()
    return (total - lo) / max(hi - lo, 1e-6)


def _mix(t: Array, c0: Array, c1: Array) -> Array:
    """Blend two colours with weights t (H, W) -> (H, W, 3)."""
    return c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]


def background(rng: np.random.Generator, size: int) -> Array:
    """A random background (H, W, 3) in [0, 1] and nothing else."""
    c0 = random_colour(rng, sat=(0.0, 0.9), val=(0.15, 1.0))
    c1 = random_colour(rng, sat=(0.0, 0.9), val=(0.15, 1.0))
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    kind = int(rng.integers(0, 5))
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * math.pi)
        t = (x - 0.5) * math.cos(a) + (y - 0.5) * math.sin(a)
        t = np.clip(t / 1.0 + 0.5, 0, 1)
    elif kind == 1:  # radial gradient
        cx, cy = rng.uniform(0, 1, 2)
        t = np.clip(np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / rng.uniform(0.6, 1.2), 0, 1)
    elif kind == 2:  # fractal value noise
        t = fractal_noise(rng, size, int(rng.integers(2, 5)), 3)
    elif kind == 3:  # wavy wood-like texture, low contrast
        a = rng.uniform(0, 2 * math.pi)
        warp = fractal_noise(rng, size, 3, 2)
        s = (x * math.cos(a) + y * math.sin(a)) * rng.uniform(6, 14) + 4 * warp
        t = 0.5 + 0.5 * np.sin(2 * math.pi * s / 4)
        c1 = c0 * 0.55 + c1 * 0.45
    else:  # flat colour with grain
        t = np.zeros((size, size))
    img = _mix(t, c0, c1)
    if kind == 4 or rng.uniform() < 0.3:
        img = img + rng.normal(0, rng.uniform(0.01, 0.05), (size, size, 1))
    return np.clip(img, 0, 1)


def add_clutter(rng: np.random.Generator, img: Array) -> None:
    """Draw 0-4 thin random strokes (anti-aliased capsules) onto ``img`` in place."""
    size = img.shape[0]
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size
    for _ in range(int(rng.integers(0, 5))):
        p0 = rng.uniform(0, 1, 2)
        p1 = p0 + rng.normal(0, 0.25, 2)
        width = rng.uniform(0.005, 0.02)
        ex, ey = p1 - p0
        t = np.clip(((x - p0[0]) * ex + (y - p0[1]) * ey) / max(ex * ex + ey * ey, 1e-9), 0, 1)
        d = np.sqrt((x - p0[0] - ex * t) ** 2 + (y - p0[1] - ey * t) ** 2) - width
        alpha = np.clip(0.5 - d * size, 0, 1)[..., None] * rng.uniform(0.4, 0.9)
        img[:] = img * (1 - alpha) + random_colour(rng)[None, None, :] * alpha


# --------------------------------------------------------------------------------------------
# The object.
# --------------------------------------------------------------------------------------------


def draw_object(rng: np.random.Generator, img: Array, spec: ClassSpec) -> None:
    """Draw the class's object (random pose, scale, position, colours) onto ``img`` in place."""
    size = img.shape[0]
    radius = rng.uniform(0.24, 0.36)  # object radius, fraction of the image side
    reach = radius * 1.15
    cx, cy = rng.uniform(reach, 1 - reach, 2)
    angle = rng.uniform(0, 2 * math.pi)
    # Mild anisotropic stretch on about half of the non-circles.
    aspect = 1.0 if spec.shape == "circle" or rng.uniform() < 0.5 else rng.uniform(0.85, 1.15)

    bg_mean = img.reshape(-1, 3).mean(axis=0)
    col_a = distinct_colour(rng, [bg_mean], 0.45)
    col_b = distinct_colour(rng, [col_a, bg_mean], 0.4)

    # Pixel box covering the object, super-sampled SUPERSAMPLE x SUPERSAMPLE.
    x0 = max(math.floor((cx - reach) * size), 0)
    x1 = min(math.ceil((cx + reach) * size), size)
    y0 = max(math.floor((cy - reach) * size), 0)
    y1 = min(math.ceil((cy + reach) * size), size)
    s = SUPERSAMPLE
    ys = (y0 + (np.arange((y1 - y0) * s) + 0.5) / s) / size
    xs = (x0 + (np.arange((x1 - x0) * s) + 0.5) / s) / size
    py, px = np.meshgrid(ys, xs, indexing="ij")
    dx, dy = (px - cx) / radius, (py - cy) / radius
    ca, sa = math.cos(angle), math.sin(angle)
    u = (ca * dx + sa * dy) / aspect
    v = (-sa * dx + ca * dy) * aspect

    sdf = shape_sdf(spec.shape, u, v)
    value = pattern_value(spec.pattern, u, v, sdf, rng)
    inside = (sdf < 0) & (value >= 0)
    colour = np.where(value[..., None] > 0.5, col_b[None, None, :], col_a[None, None, :])

    # Average the sub-samples: coverage (alpha) and premultiplied colour.
    h, w = y1 - y0, x1 - x0
    cover = inside.reshape(h, s, w, s).mean(axis=(1, 3))
    premult = (colour * inside[..., None]).reshape(h, s, w, s, 3).mean(axis=(1, 3))
    region = img[y0:y1, x0:x1]
    region[:] = region * (1 - cover[..., None]) + premult


def photometric(rng: np.random.Generator, img: Array) -> Array:
    """Global brightness / contrast jitter and, on some images, Gaussian pixel noise."""
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.8, 1.15) + mean + rng.uniform(-0.08, 0.08)
    if rng.uniform() < 0.25:
        img = img + rng.normal(0, rng.uniform(0.005, 0.025), img.shape)
    return np.clip(img, 0, 1)


def render_image(rng: np.random.Generator, spec: ClassSpec, size: int) -> Array:
    """One image of class ``spec``: ``(size, size, 3)`` uint8 RGB."""
    img = background(rng, size)
    add_clutter(rng, img)
    draw_object(rng, img, spec)
    img = photometric(rng, img)
    return np.round(img * 255).astype(np.uint8)


RenderFn = Callable[[np.random.Generator, ClassSpec, int], Array]
