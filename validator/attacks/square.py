"""Square Attack (Andriushchenko et al., ECCV 2020) on the margin loss: the search both norms share
and the L-infinity variant (the L2 variant is in :mod:`validator.attacks.square_l2`).

A random search that changes one square window per query and keeps the change when the margin
(score of the label minus the best other score, on log scale) goes down. Images whose outputs
are saturated on the clean pass go to RayS instead (see :mod:`validator.attacks.rays`), with the
same budget and the same norm bound, so that a one-hot output cannot pass for robustness.

Differences from the reference code, all deliberate: each image draws its window positions and
colours from its own seeded generator (results do not depend on batching); everything runs on
the 8-bit grid (the L2 perturbation is rounded towards the clean image, so its norm never grows);
the schedule of window sizes is rescaled to the query budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validator.attacks.base import (
    LEVELS,
    AttackResult,
    Family,
    eps_levels,
    generators,
    p_schedule,
)
from validator.attacks.model_fn import QueryModel
from validator.attacks.rays import Ball, RaySResult, rays
from validator.attacks.search import (
    Window,
    clean_pass,
    compact,
    encode_last,
    evaluate,
    positions,
    sign_draws,
    uniform_draws,
    window_index,
)


@dataclass
class SquareState:
    """The search over the images still being attacked (indices into the batch)."""

    clean: np.ndarray
    best: np.ndarray
    margin: np.ndarray
    fooled: np.ndarray
    queries: np.ndarray  # model runs
    iterations: np.ndarray  # evaluations (each the average of ``draws`` runs for a random model)


class SquareBase:
    """Clean pass, split between score-based and decision-based search, and bookkeeping."""

    family = Family.ADVERSARIAL
    norm = "linf"

    def __init__(self, name: str, eps: float, p_init: float) -> None:
        self.name, self.eps, self.p_init = name, float(eps), float(p_init)

    @property
    def params(self) -> Mapping[str, Any]:
        """eps (in [0, 1] units for L-inf, in [0, 1]-scaled L2 for L2), p_init, norm, loss."""
        return {"norm": self.norm, "eps": self.eps, "p_init": self.p_init, "loss": "margin"}

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Attack each correctly classified image with at most ``budget`` queries."""
        rngs = generators(seeds)
        start = clean_pass(model, images, labels)
        out, success = images.copy(), start.fooled.copy()
        queries = model.last_draws.copy()
        iterations = np.ones(len(images), dtype=np.int64)
        method = ["clean" if f else "square" for f in start.fooled]
        todo = np.flatnonzero(~start.fooled & ~start.saturated)
        if len(todo) and budget > 1:
            state = self._search(model, images[todo], labels[todo], [rngs[i] for i in todo], budget)
            out[todo], success[todo] = state.best, state.fooled
            queries[todo] += state.queries
            iterations[todo] += state.iterations
        for i, result in self._fallback(model, images, labels, rngs, start.saturated, budget):
            out[i], success[i] = result.image, result.success
            queries[i] += result.queries * model.draws
            iterations[i] += result.queries
            method[i] = "rays"
        extra: dict[str, list[Any]] = {"method": method, "iterations": iterations.tolist()}
        return AttackResult(out, queries, success, extra)

    def _fallback(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        rngs: list[np.random.Generator],
        saturated: np.ndarray,
        budget: int,
    ) -> list[tuple[int, RaySResult]]:
        """RayS on the saturated images; its budget counts evaluations (each ``draws`` runs)."""
        chosen = np.flatnonzero(saturated)
        evaluations = budget - 1
        if not len(chosen) or evaluations < 1:
            return []
        subset = [rngs[i] for i in chosen]
        found = rays(model, images[chosen], labels[chosen], subset, evaluations, self.ball())
        return list(zip(chosen.tolist(), found, strict=True))

    def ball(self) -> Ball:
        """The norm bound in 8-bit levels."""
        return Ball("linf", eps_levels(self.eps))

    def _search(
        self,
        model: QueryModel,
        clean: np.ndarray,
        labels: np.ndarray,
        rngs: list[np.random.Generator],
        budget: int,
    ) -> SquareState:
        raise NotImplementedError


class SquareLinf(SquareBase):
    """Square Attack, L-infinity ball of radius ``eps`` (in [0, 1] units; default 8/255)."""

    norm = "linf"

    def __init__(self, name: str = "square-linf", eps: float = 8 / 255, p_init: float = 0.05):
        super().__init__(name, eps, p_init)

    def _search(
        self,
        model: QueryModel,
        clean: np.ndarray,
        labels: np.ndarray,
        rngs: list[np.random.Generator],
        budget: int,
    ) -> SquareState:
        n, c, h, w = clean.shape
        e = eps_levels(self.eps)
        stripes = sign_draws(rngs, (c, 1, w)) * np.float32(e)
        iterations = max(budget - 2, 0)
        draws = uniform_draws(rngs, iterations, 2)
        colours = sign_draws(rngs, (iterations, c)) * np.float32(e)
        best = np.clip(clean + stripes, 0.0, LEVELS).astype(np.float32)
        margin, fooled = evaluate(model, best, labels)
        state = SquareState(
            clean, best, margin, fooled, model.last_draws.copy(), np.ones(n, np.int64)
        )
        live = LiveSet(model, state, labels)
        for it in range(iterations):
            if not len(live.rows):
                break
            p = p_schedule(self.p_init, it, iterations)
            s = int(min(max(round(np.sqrt(p * h * w)), 1), min(h, w) - 1))
            top = positions(draws[live.rows, it, 0], h - s)
            left = positions(draws[live.rows, it, 1], w - s)
            live.step(window_index(top, left, s), colours[live.rows, it])
        live.flush()
        return state

    @staticmethod
    def _accept_better(
        model: QueryModel,
        state: SquareState,
        active: np.ndarray,
        candidate: np.ndarray,
        labels: np.ndarray,
    ) -> None:
        margin, fooled = evaluate(model, candidate, labels[active])
        better = margin < state.margin[active]
        chosen = active[better]
        state.best[chosen] = candidate[better]
        state.margin[chosen] = margin[better]
        state.fooled[chosen] = fooled[better]
        state.queries[active] += model.last_draws
        state.iterations[active] += 1


class LiveSet:
    """The images still being attacked, kept compact (fooled ones leave at once) and kept both
    as levels and as the model's input tensor, so that a step touches only its windows: no
    pass over whole images except the model's own."""

    def __init__(self, model: QueryModel, state: SquareState, labels: np.ndarray) -> None:
        self.model, self.state = model, state
        self.rows = np.flatnonzero(~state.fooled)
        self.best, self.clean = state.best[self.rows], state.clean[self.rows]
        self.inputs = model.encode(self.best)
        self.margin, self.labels = state.margin[self.rows], labels[self.rows]

    def _encode(self, values: np.ndarray) -> np.ndarray:
        return encode_last(values, self.model.order)

    def step(self, window: Window, colour: np.ndarray) -> None:
        """Set each window to clean +- eps per channel (the opposite colour when that changes
        nothing), query, and put the old window back where the margin did not drop."""
        old = self.best[window]
        clean = self.clean[window]
        new = np.clip(clean + colour[:, None, None, :], 0.0, LEVELS)
        same = np.all(new == old, axis=(1, 2, 3))
        if same.any():
            new[same] = np.clip(clean[same] - colour[same][:, None, None, :], 0.0, LEVELS)
        # Only the model's input takes the candidate; the levels take it where it is kept.
        self.inputs[window] = self._encode(new)
        margin, fooled = evaluate(self.model, self.inputs, self.labels, encoded=True)
        self._count()
        worse = ~(margin < self.margin)
        images, _, rows, cols = window
        self.inputs[images[worse], :, rows[worse], cols[worse]] = self._encode(old[worse])
        self.best[images[~worse], :, rows[~worse], cols[~worse]] = new[~worse]
        self.margin = np.where(worse, self.margin, margin)
        done = fooled & ~worse
        if done.any():
            self._retire(done)

    def _count(self) -> None:
        self.state.queries[self.rows] += self.model.last_draws
        self.state.iterations[self.rows] += 1

    def _retire(self, done: np.ndarray) -> None:
        rows = self.rows[done]
        self.state.best[rows], self.state.margin[rows] = self.best[done], self.margin[done]
        self.state.fooled[rows] = True
        keep = ~done
        self.rows, self.margin, self.labels = self.rows[keep], self.margin[keep], self.labels[keep]
        # In place: a fancy-indexed copy of the three image arrays per fooled image was a pass
        # over every live image each time.
        self.best, self.clean = compact(self.best, keep), compact(self.clean, keep)
        self.inputs = compact(self.inputs, keep)

    def flush(self) -> None:
        """Write the images still being attacked back into the state."""
        self.state.best[self.rows], self.state.margin[self.rows] = self.best, self.margin
