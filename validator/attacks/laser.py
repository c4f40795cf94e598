"""Adversarial light: a laser beam overlay whose parameters are searched against the model
(after Duan et al., "Adversarial Laser Beam", CVPR 2021).

A beam is a straight band of light added to the image: its colour comes from a wavelength
(380-750 nm, converted with Bruton's approximation of the visible spectrum), its line from an
angle and a signed offset from the image centre, its width in pixels, and its intensity. Full
intensity within half the width of the line, fading linearly to nothing at the full width.

The search is a greedy random search: start from a random beam, then at each step try ``beams``
candidates per image (Gaussian moves of the best beam that shrink over the budget, and a fresh
random beam for every ``restart_every``-th candidate), all images' candidates in one model call,
and keep the best candidate when the margin does not get worse. Each candidate is one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from validator.attacks.base import LEVELS, AttackResult, Family, generators
from validator.attacks.model_fn import QueryModel
from validator.attacks.search import clean_pass, evaluate, uniform_draws
from validator.vocab import ChannelOrder

# Parameter columns, each searched in [0, 1] and mapped to its range by _decode.
WAVELENGTH, ANGLE, OFFSET, WIDTH, INTENSITY = range(5)
# Candidates rendered per pass (224 x 224: 1.6 MB of profile, 4.8 MB of output).
_PER_PASS = 8


def wavelength_rgb(nm: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (N x 3) for wavelengths in nanometres (Dan Bruton's piecewise model)."""
    nm = np.asarray(nm, dtype=np.float64)
    r = np.select(
        [nm < 440, nm < 490, nm < 510, nm < 580, nm < 645],
        [(440 - nm) / 60, 0, 0, (nm - 510) / 70, 1],
        1,
    )
    g = np.select(
        [nm < 440, nm < 490, nm < 510, nm < 580, nm < 645],
        [0, (nm - 440) / 50, 1, 1, (645 - nm) / 65],
        0,
    )
    b = np.select([nm < 490, nm < 510], [1, (510 - nm) / 20], 0)
    # Intensity falls off near the limits of vision.
    fade = np.select(
        [nm < 420, nm > 700], [0.3 + 0.7 * (nm - 380) / 40, 0.3 + 0.7 * (750 - nm) / 50], 1
    )
    return np.clip(np.stack([r, g, b], axis=-1) * fade[..., None], 0.0, 1.0)


class LaserBeam:
    """Laser-beam overlay; ``width`` range is a fraction of the image side, ``intensity``
    range of full brightness added."""

    family = Family.LIGHT

    def __init__(
        self,
        name: str = "laser",
        width: tuple[float, float] = (0.02, 0.2),
        intensity: tuple[float, float] = (0.3, 1.0),
        restart_every: int = 10,
        beams: int = 8,
    ) -> None:
        self.name, self.width, self.intensity = name, tuple(width), tuple(intensity)
        self.restart_every, self.beams = restart_every, max(1, int(beams))

    @property
    def params(self) -> Mapping[str, Any]:
        """Search ranges (wavelength in nm, angle in degrees, width/offset as fractions)."""
        return {
            "wavelength_nm": [380, 750],
            "angle_deg": [0, 180],
            "width": list(self.width),
            "intensity": list(self.intensity),
            "restart_every": self.restart_every,
            "beams": self.beams,
        }

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Search a beam per correctly classified image with at most ``budget`` queries."""
        n, k = len(images), self.beams
        rngs = generators(seeds)
        start = clean_pass(model, images, labels)
        steps = max(budget - 2, 0) // k  # each step: k candidates (whatever a random model's runs)
        u = uniform_draws(rngs, steps * k + 1, 5)
        noise = np.stack([rng.standard_normal((steps * k, 5)) for rng in rngs]) if n else u
        best = u[:, 0].copy()
        queries = model.last_draws.copy()
        fooled, margin = start.fooled.copy(), np.full(n, np.inf)
        todo = np.flatnonzero(~fooled)
        if len(todo) and budget > 1:
            m, f, _, draws = self._try(model, images[todo], labels[todo], best[todo, None])
            margin[todo], fooled[todo] = m, f
            queries[todo] += draws
        for step in range(steps if len(todo) else 0):
            active = np.flatnonzero(~fooled)
            if not len(active):
                break
            drawn = slice(step * k, (step + 1) * k)
            candidate = self._propose(
                best[active], u[active, 1:][:, drawn], noise[active, drawn], step, steps
            )
            m, f, pick, draws = self._try(model, images[active], labels[active], candidate)
            keep = m <= margin[active]
            chosen = active[keep]
            best[chosen] = candidate[keep, pick[keep]]
            margin[chosen], fooled[chosen] = m[keep], f[keep]
            queries[active] += draws
        out = images.copy()
        out[todo] = self.render(images[todo], best[todo])
        beams = [self.describe(row, images.shape[-2:]) for row in best]
        return AttackResult(out, queries, fooled, {"beam": beams})

    def _try(
        self, model: QueryModel, images: np.ndarray, labels: np.ndarray, candidate: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every candidate beam (images x beams x 5) of every image evaluated: (margin,
        fooled, index) of each image's best beam (the first of equally good ones), and the
        model runs each image took. Images go in groups of whole images whose candidates fill
        one model batch, rendered straight into the model's input encoding in one buffer that
        every group of the step reuses: no pass to encode, no fresh memory per model call, and
        memory bounded by one batch whatever the number of images and beams."""
        n, k = candidate.shape[:2]
        group = max(1, model.batch_size // k)
        buffer = np.empty((min(group, n) * k, *images.shape[1:]), dtype=np.float32)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, n, group):
            part = slice(start, start + group)
            inputs = buffer[: len(images[part]) * k]
            self._render_into(inputs, images[part], candidate[part].reshape(-1, 5), model.order)
            m, f = evaluate(model, inputs, np.repeat(labels[part], k), encoded=True)
            found.append((m, f, model.last_draws))
        m, f, runs = (np.concatenate(column).reshape(n, k) for column in zip(*found, strict=True))
        pick = np.argmin(m, axis=1)
        rows = np.arange(n)
        return m[rows, pick], f[rows, pick], pick, runs.sum(axis=1)

    def _propose(
        self, best: np.ndarray, fresh: np.ndarray, noise: np.ndarray, step: int, steps: int
    ) -> np.ndarray:
        """``beams`` candidates per image (images x beams x 5): Gaussian moves of the best beam,
        and a fresh random beam for every ``restart_every``-th candidate of the image."""
        scale = 0.25 * (1.0 - step / max(steps, 1)) + 0.02
        moved = best[:, None, :] + noise * scale
        moved[..., ANGLE] %= 1.0  # the angle wraps around
        moved = np.clip(moved, 0.0, 1.0)
        if self.restart_every > 0:
            index = step * self.beams + np.arange(self.beams)
            restart = index % self.restart_every == self.restart_every - 1
            moved[:, restart] = fresh[:, restart]
        return moved

    def render(self, images: np.ndarray, params: np.ndarray, beams: int = 1) -> np.ndarray:
        """``images`` (levels) with a beam each (``beams`` consecutive rows of ``params`` per
        image: the result has ``len(images) * beams`` images), rounded to the 8-bit grid."""
        out = np.empty((len(images) * beams, *images.shape[1:]), dtype=np.float32)
        self._render_into(out, images, params, None)
        return out

    def _render_into(
        self, out: np.ndarray, images: np.ndarray, params: np.ndarray, order: ChannelOrder | None
    ) -> None:
        """Write the beamed images (as :meth:`render`) into ``out``: as levels when ``order``
        is None, else as the model's input in that channel order, bit for bit what
        :func:`~validator.attacks.model_fn.to_input` makes of the levels. A few images at a
        time, channel by channel, in place: the full-size arrays are never allocated."""
        n, c, h, w = images.shape
        beams = len(params) // max(n, 1)
        nm, theta, offset, width, alpha = self._decode(params, h, w)
        gain = (alpha[:, None] * wavelength_rgb(nm)[:, :c] * LEVELS).astype(np.float32)
        lines = _Lines(theta, offset, width, h, w)
        grid = out.reshape(n, beams, c, h, w)
        # Whole images in passes of about _PER_PASS candidates: small enough that the profile
        # and the output stay in cache between the ten or so operations on them.
        step = max(1, _PER_PASS // max(beams, 1))
        profile = np.empty((min(step, n) * beams, h, w), dtype=np.float32)
        for first in range(0, n, step):
            part = slice(first, first + step)
            rows = slice(first * beams, (first + len(images[part])) * beams)
            light = lines.profile_into(profile[: rows.stop - rows.start], rows)
            _add_light(grid[part], images[part], light, gain[rows], order)

    def _decode(self, params: np.ndarray, h: int, w: int) -> tuple[np.ndarray, ...]:
        side, reach = min(h, w), np.hypot(h, w) / 2
        nm = 380 + params[:, WAVELENGTH] * 370
        theta = params[:, ANGLE] * np.pi
        offset = (params[:, OFFSET] * 2 - 1) * reach
        lo, hi = self.width
        width = np.maximum((lo + params[:, WIDTH] * (hi - lo)) * side, 1.0)
        a_lo, a_hi = self.intensity
        alpha = a_lo + params[:, INTENSITY] * (a_hi - a_lo)
        return nm, theta, offset, width, alpha

    def describe(self, row: np.ndarray, shape: tuple[int, ...]) -> dict[str, float]:
        """One beam's parameters in physical units, for the manifest."""
        nm, theta, offset, width, alpha = (float(v[0]) for v in self._decode(row[None], *shape))
        return {
            "wavelength_nm": round(nm, 2),
            "angle_deg": round(float(np.degrees(theta)), 2),
            "offset_px": round(offset, 2),
            "width_px": round(width, 2),
            "intensity": round(alpha, 4),
        }


class _Lines:
    """The beams' lines as a row term and a column term of each pixel's distance to the line,
    so that a beam's profile costs one broadcast add and four in-place passes."""

    def __init__(
        self, theta: np.ndarray, offset: np.ndarray, width: np.ndarray, h: int, w: int
    ) -> None:
        ys = np.arange(h, dtype=np.float64) - (h - 1) / 2
        xs = np.arange(w, dtype=np.float64) - (w - 1) / 2
        # |x cos + y sin - offset| as the sum of a row term and a column term (float32: the
        # result is rounded to whole levels anyway).
        self.across = (xs[None] * np.cos(theta)[:, None] - offset[:, None]).astype(np.float32)
        self.down = (ys[None] * np.sin(theta)[:, None]).astype(np.float32)
        self.width = width.astype(np.float32)[:, None, None]
        self.scale = (2.0 / width).astype(np.float32)[:, None, None]

    def profile_into(self, out: np.ndarray, beams: slice) -> np.ndarray:
        """The light's share at each pixel (beams x H x W float32 in [0, 1]) written into
        ``out``: full light within half the width, fading linearly to nothing at the full
        width."""
        np.add(self.down[beams, :, None], self.across[beams, None, :], out=out)
        np.abs(out, out=out)
        np.subtract(self.width[beams], out, out=out)
        out *= self.scale[beams]
        np.clip(out, 0.0, 1.0, out=out)
        return out


def _add_light(
    grid: np.ndarray,
    images: np.ndarray,
    light: np.ndarray,
    gain: np.ndarray,
    order: ChannelOrder | None,
) -> None:
    """``grid`` (images x beams x C x H x W) = each image plus its beams' ``light`` (profiles)
    times ``gain`` (levels per channel), rounded to the 8-bit grid and, unless ``order`` is
    None, encoded as the model's input."""
    n, beams, c, h, w = grid.shape
    light = light.reshape(n, beams, h, w)
    gain = gain.reshape(n, beams, c)[:, :, :, None, None]
    top = np.float32(LEVELS)
    for channel in range(c):
        target = grid[:, :, c - 1 - channel] if order is ChannelOrder.BGR else grid[:, :, channel]
        np.multiply(light, gain[:, :, channel], out=target)
        np.add(target, images[:, None, channel], out=target)
        np.rint(target, out=target)
        # Light only adds, so the floor never binds; numpy's clip with two scalar bounds is
        # three times faster than minimum with one.
        np.clip(target, np.float32(0.0), top, out=target)
        if order is not None:
            np.divide(target, np.float32(255.0), out=target)  # as the loader
