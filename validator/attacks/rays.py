"""RayS (Chen and Gu, KDD 2020): a decision-based L-infinity attack that needs only top-1 labels.

It searches over sign directions ``d`` in {-1, +1}^D, flipping ever smaller blocks of ``d``, and
for each direction finds by binary search the smallest radius ``r`` at which ``x + r d`` (clipped)
is misclassified. It is what the Square attacks fall back to on images whose outputs are
saturated (one-hot in float32), where a margin carries no signal: masking by saturation then
cannot make a model look robust.

Radii are whole 8-bit levels, so a binary search over 0..255 takes at most 8 queries. Each image
is a small state machine (a generator that yields the image it wants evaluated and receives
whether it was misclassified); :func:`drive` evaluates all images' requests in one batch per
round.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validator.attacks.base import LEVELS, AttackResult, Family, eps_levels, generators
from validator.attacks.model_fn import QueryModel

Probe = Generator[np.ndarray, int, "RaySResult"]


@dataclass(frozen=True)
class RaySResult:
    """One image's outcome: its best adversarial image (or the clean one) and queries used."""

    image: np.ndarray
    queries: int
    success: bool
    radius: float  # best radius found in levels (inf when no direction was adversarial)


def drive(model: QueryModel, probes: Sequence[Probe]) -> list[RaySResult]:
    """Run per-image searches together: one batched model call per round of requests."""
    results: list[RaySResult | None] = [None] * len(probes)
    pending: dict[int, np.ndarray] = {}
    for i, probe in enumerate(probes):
        _advance(i, probe, None, pending, results)
    while pending:
        order = sorted(pending)
        answers = model.predict(np.stack([pending[i] for i in order]))
        for i, answer in zip(order, answers, strict=True):
            _advance(i, probes[i], int(answer), pending, results)
    return [r for r in results if r is not None]


def _advance(
    i: int,
    probe: Probe,
    answer: int | None,
    pending: dict[int, np.ndarray],
    results: list[RaySResult | None],
) -> None:
    try:
        request = next(probe) if answer is None else probe.send(answer)
        pending[i] = request
    except StopIteration as stop:
        pending.pop(i, None)
        results[i] = stop.value


@dataclass(frozen=True)
class Ball:
    """The norm bound of an attack, in 8-bit levels: ``norm`` is ``linf`` or ``l2``."""

    norm: str
    eps: float

    def accept(self, clean: np.ndarray, image: np.ndarray) -> bool:
        """True when ``image`` is within the ball around ``clean``."""
        delta = (image.astype(np.float64) - clean).ravel()
        size = np.max(np.abs(delta)) if self.norm == "linf" else np.linalg.norm(delta)
        return bool(size <= self.eps + 1e-9)

    def inside(self, clean: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """The image along ``direction`` (a sign vector) at the largest radius surely inside."""
        radius = self.eps if self.norm == "linf" else self.eps / np.sqrt(direction.size)
        return _along(clean, direction, float(np.floor(radius)))


def rays_probe(
    clean: np.ndarray, label: int, rng: np.random.Generator, budget: int, ball: Ball
) -> Probe:
    """One image's RayS search. Yields images to classify and receives the predicted class;
    stops when the best adversarial image is inside ``ball`` or the budget is spent. A failed
    search returns the image along its best direction at the ball's edge."""
    flat_dim = clean.size
    direction = np.where(rng.random(flat_dim) < 0.5, -1.0, 1.0).astype(np.float32)
    best_r, best_image, used = np.inf, clean, 0
    level, block = 0, 0
    while used < budget:
        size = int(np.ceil(flat_dim / 2**level))
        start, stop = block * size, min(flat_dim, (block + 1) * size)
        attempt = direction.copy()
        attempt[start:stop] *= -1.0
        ceiling = best_r - 1 if np.isfinite(best_r) else LEVELS
        if ceiling >= 1:
            found = yield from _smallest_radius(clean, attempt, label, ceiling, budget - used)
            radius, spent = found
            used += spent
            if radius < best_r:
                best_r, direction = radius, attempt
                best_image = _along(clean, direction, radius)
                if ball.accept(clean, best_image):
                    break
        else:
            break
        block += 1
        if block == 2**level or stop == flat_dim:
            level, block = level + 1, 0
        if size == 1 and block == 0:
            level = 0  # every single coordinate tried: start over with large blocks
    if np.isfinite(best_r) and ball.accept(clean, best_image):
        return RaySResult(best_image, used, True, best_r)
    return RaySResult(ball.inside(clean, direction), used, False, best_r)


def _smallest_radius(
    clean: np.ndarray, direction: np.ndarray, label: int, ceiling: float, budget: int
) -> Generator[np.ndarray, int, tuple[float, int]]:
    """Binary search for the smallest whole radius <= ``ceiling`` that is misclassified along
    ``direction``: returns (radius or inf, queries spent)."""
    if budget < 1:
        return np.inf, 0
    spent = 1
    if (yield _along(clean, direction, ceiling)) == label:
        return np.inf, spent
    low, high = 0.0, float(ceiling)  # low: known not adversarial (the clean image), high: is
    while high - low > 1 and spent < budget:
        mid = float(np.floor((low + high) / 2))
        spent += 1
        if (yield _along(clean, direction, mid)) == label:
            low = mid
        else:
            high = mid
    return high, spent


def _along(clean: np.ndarray, direction: np.ndarray, radius: float) -> np.ndarray:
    moved = clean.reshape(-1) + np.float32(radius) * direction
    return np.clip(moved, 0.0, LEVELS).reshape(clean.shape).astype(np.float32)


def rays(
    model: QueryModel,
    images: np.ndarray,
    labels: np.ndarray,
    rngs: Sequence[np.random.Generator],
    budget: int,
    ball: Ball,
) -> list[RaySResult]:
    """RayS on every image, all assumed correctly classified when clean."""
    probes = [
        rays_probe(images[i], int(labels[i]), rngs[i], budget, ball) for i in range(len(images))
    ]
    return drive(model, probes)


class RaySAttack:
    """RayS on its own: decision-based L-infinity attack of radius ``eps`` (default 8/255).
    Unlike the Square attacks it never looks at scores, so no output transform can mask it."""

    family = Family.ADVERSARIAL

    def __init__(self, name: str = "rays-linf", eps: float = 8 / 255) -> None:
        self.name, self.eps = name, float(eps)

    @property
    def params(self) -> Mapping[str, Any]:
        """Norm and radius."""
        return {"norm": "linf", "eps": self.eps, "decision_based": True}

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """One clean query per image, then RayS on the correctly classified ones."""
        rngs = generators(seeds)
        fooled = np.asarray(model.predict(images) != labels)
        out, success = images.copy(), fooled.copy()
        queries = np.full(len(images), model.draws, dtype=np.int64)
        todo = np.flatnonzero(~fooled)
        evaluations = budget - 1
        if len(todo) and evaluations >= 1:
            ball = Ball("linf", eps_levels(self.eps))
            subset = [rngs[i] for i in todo]
            found = rays(model, images[todo], labels[todo], subset, evaluations, ball)
            for i, result in zip(todo.tolist(), found, strict=True):
                out[i], success[i] = result.image, result.success
                queries[i] += result.queries * model.draws
        return AttackResult(out, queries, success)
