"""A square adversarial patch whose location and content are both searched (in the spirit of
Sparse-RS patches, Croce et al., AAAI 2022).

The patch (``size`` x ``size`` pixels, any colours) starts at a random place filled with random
vertical stripes of extreme colours. Each query either moves it (every ``move_every``-th query,
by a shift that shrinks over the budget) or repaints one square inside it with a random extreme
colour (Square Attack's schedule of sizes). A change is kept when the margin does not get worse:
ties are kept too, so that on a flat (masked) loss the search still wanders instead of freezing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from validator.attacks.base import LEVELS, AttackResult, Family, generators, p_schedule
from validator.attacks.model_fn import QueryModel
from validator.attacks.search import clean_pass, evaluate, positions, uniform_draws


class PatchAttack:
    """Square patch of side ``size`` (a fraction of the image side), location and content
    searched."""

    family = Family.PATCH

    def __init__(
        self, name: str = "patch", size: float = 0.1, move_every: int = 5, p_init: float = 0.3
    ) -> None:
        self.name, self.size, self.move_every, self.p_init = name, size, move_every, p_init

    @property
    def params(self) -> Mapping[str, Any]:
        """Patch side (fraction of the image side), location period, content schedule start."""
        return {"size": self.size, "move_every": self.move_every, "p_init": self.p_init}

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Search a patch per correctly classified image with at most ``budget`` queries."""
        n, c, h, w = images.shape
        side = int(min(max(round(self.size * min(h, w)), 1), min(h, w)))
        rngs = generators(seeds)
        start = clean_pass(model, images, labels)
        evaluations = budget  # iterations, whatever a random model's runs per evaluation
        steps = max(evaluations - 2, 0)
        u = uniform_draws(rngs, steps + 1, 3 + c)  # row 0: start; then per step
        content = _stripes(u[:, 0], rngs, c, side)
        top = positions(u[:, 0, 0], h - side + 1)
        left = positions(u[:, 0, 1], w - side + 1)
        out = images.copy()
        queries = model.last_draws.copy()
        fooled = start.fooled.copy()
        todo = np.flatnonzero(~fooled)
        if len(todo) and evaluations > 1:
            margin, now = evaluate(
                model, _paste(images[todo], content[todo], top[todo], left[todo]), labels[todo]
            )
            best_margin = np.full(n, np.inf)
            best_margin[todo], fooled[todo] = margin, now
            queries[todo] += model.last_draws
            state = _Patch(content, top, left, best_margin, fooled, queries)
            for step in range(steps):
                active = np.flatnonzero(~state.fooled & ~start.fooled)
                if not len(active):
                    break
                self._step(model, images, labels, state, active, u[active, step + 1], step, steps)
        final = np.flatnonzero(~start.fooled)
        out[final] = _paste(images[final], content[final], top[final], left[final])
        return AttackResult(out, queries, fooled, {"patch_side": [side] * n})

    def _step(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        state: _Patch,
        active: np.ndarray,
        u: np.ndarray,
        step: int,
        steps: int,
    ) -> None:
        _, c, h, w = images.shape
        side = state.content.shape[-1]
        content = state.content[active]  # fancy indexing: copies
        top, left = state.top[active], state.left[active]
        if self.move_every > 0 and step % self.move_every == self.move_every - 1:
            reach = max(1, round(p_schedule(1.0, step, steps) * max(h, w)))
            top = np.clip(top + np.rint((u[:, 0] * 2 - 1) * reach).astype(np.int64), 0, h - side)
            left = np.clip(left + np.rint((u[:, 1] * 2 - 1) * reach).astype(np.int64), 0, w - side)
        else:
            s = int(min(max(round(np.sqrt(p_schedule(self.p_init, step, steps)) * side), 1), side))
            rows, cols = positions(u[:, 0], side - s + 1), positions(u[:, 1], side - s + 1)
            colour = np.where(u[:, 3 : 3 + c] < 0.5, 0.0, LEVELS).astype(np.float32)
            for k in range(len(active)):
                content[k, :, rows[k] : rows[k] + s, cols[k] : cols[k] + s] = colour[k][
                    :, None, None
                ]
        candidate = _paste(images[active], content, top, left)
        margin, fooled = evaluate(model, candidate, labels[active])
        keep = margin <= state.margin[active]
        chosen = active[keep]
        state.content[chosen], state.top[chosen], state.left[chosen] = (
            content[keep],
            top[keep],
            left[keep],
        )
        state.margin[chosen], state.fooled[chosen] = margin[keep], fooled[keep]
        state.queries[active] += model.last_draws


class _Patch:
    """Per-image patch state (content, place, best margin, success, queries)."""

    def __init__(
        self,
        content: np.ndarray,
        top: np.ndarray,
        left: np.ndarray,
        margin: np.ndarray,
        fooled: np.ndarray,
        queries: np.ndarray,
    ) -> None:
        self.content, self.top, self.left = content, top, left
        self.margin, self.fooled, self.queries = margin, fooled, queries


def _stripes(
    u: np.ndarray, rngs: Sequence[np.random.Generator], channels: int, side: int
) -> np.ndarray:
    """Initial patch content: vertical stripes of random extreme colours."""
    if not rngs:
        return np.zeros((0, channels, side, side), dtype=np.float32)
    bits = np.stack([rng.random((channels, 1, side)) < 0.5 for rng in rngs])
    stripes = np.where(bits, LEVELS, 0.0).astype(np.float32)
    return np.ascontiguousarray(np.broadcast_to(stripes, (len(rngs), channels, side, side)))


def _paste(
    images: np.ndarray, content: np.ndarray, top: np.ndarray, left: np.ndarray
) -> np.ndarray:
    """``images`` (a copy the caller owns: changed in place) with each image's patch pasted at
    its place."""
    side = content.shape[-1]
    for k in range(len(images)):
        images[k, :, top[k] : top[k] + side, left[k] : left[k] + side] = content[k]
    return images
