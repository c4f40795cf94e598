"""Square Attack's L2 variant (Andriushchenko et al., ECCV 2020): each query moves perturbation
mass between two square windows, keeping the L2 norm at the ball's radius, as the reference code
does; the search, bookkeeping and fallback are :class:`validator.attacks.square.SquareBase`'s."""

from __future__ import annotations

import numpy as np

from validator.attacks.base import LEVELS, p_schedule, toward
from validator.attacks.model_fn import QueryModel
from validator.attacks.rays import Ball
from validator.attacks.search import evaluate, positions, sign_draws, uniform_draws, window_index
from validator.attacks.square import LiveSet, SquareBase, SquareState


class SquareL2(SquareBase):
    """Square Attack, L2 ball of radius ``eps`` in [0, 1] units (default 5.0, the paper's
    ImageNet setting at 224 x 224)."""

    norm = "l2"

    def __init__(self, name: str = "square-l2", eps: float = 5.0, p_init: float = 0.1):
        super().__init__(name, eps, p_init)

    def ball(self) -> Ball:
        """The norm bound in 8-bit levels."""
        return Ball("l2", self.eps * LEVELS)

    def _search(
        self,
        model: QueryModel,
        clean: np.ndarray,
        labels: np.ndarray,
        rngs: list[np.random.Generator],
        budget: int,
    ) -> SquareState:
        n, c, h, w = clean.shape
        e = self.eps * LEVELS
        iterations = max(budget - 2, 0)
        draws = uniform_draws(rngs, iterations, 5)
        signs = sign_draws(rngs, (iterations, c))
        best = toward(clean, clean + _l2_init(rngs, clean.shape, e))
        margin, fooled = evaluate(model, best, labels)
        state = SquareState(
            clean, best, margin, fooled, model.last_draws.copy(), np.ones(n, np.int64)
        )
        live = LiveL2(model, state, labels, e)
        for it in range(iterations):
            if not len(live.rows):
                break
            p = p_schedule(self.p_init, it, iterations)
            s = max(round(np.sqrt(p * h * w)), 3)
            s = min(s + (s % 2 == 0), min(h, w) - 1)
            live.step(draws[live.rows, it], signs[live.rows, it], s)
        live.flush()
        return state


def _l2_init(rngs: list[np.random.Generator], shape: tuple[int, ...], eps: float) -> np.ndarray:
    """Tiles of pseudo-Gaussian bumps with random signs per channel, scaled to norm ``eps``."""
    _n, c, h, w = shape
    s = max(h // 5, 1)
    delta = np.zeros(shape, dtype=np.float64)
    offset_h, offset_w = (h - s * 5) // 2, (w - s * 5) // 2
    for i in range(h // s):
        for j in range(w // s):
            top, left = offset_h + i * s, offset_w + j * s
            if top + s > h or left + s > w:
                continue
            bumps = np.stack([_meta_pert(s, bool(rng.random() < 0.5)) for rng in rngs])
            signs = np.stack([rng.choice([-1.0, 1.0], size=c) for rng in rngs])
            delta[:, :, top : top + s, left : left + s] += bumps[:, None] * signs[:, :, None, None]
    norms = np.sqrt(np.sum(delta**2, axis=(1, 2, 3), keepdims=True))
    return np.asarray(delta / np.maximum(norms, 1e-12) * eps)


class LiveL2(LiveSet):
    """The L2 search on the same compact, in-place state: each step moves L2 mass from window
    2 into window 1 (a new pseudo-Gaussian bump plus window 1's old content, scaled to the room
    left under ``eps`` plus what the two windows held), touching only the two windows."""

    def __init__(
        self, model: QueryModel, state: SquareState, labels: np.ndarray, eps: float
    ) -> None:
        super().__init__(model, state, labels)
        self.eps = eps
        delta = (self.best - self.clean).astype(np.float64)
        self.energy = np.sum(delta**2, axis=(1, 2, 3))  # squared norm per image

    def step(self, u: np.ndarray, signs: np.ndarray, s: int) -> None:  # type: ignore[override]
        """One query per image: propose, evaluate, keep or put back. Each window is gathered
        from the image arrays once (a gather costs as much as the arithmetic on it)."""
        _, c, h, w = self.best.shape
        t1, l1 = positions(u[:, 0], h - s), positions(u[:, 1], w - s)
        t2, l2 = positions(u[:, 2], h - s), positions(u[:, 3], w - s)
        win1, win2 = window_index(t1, l1, s), window_index(t2, l2, s)
        old1, old2 = self.best[win1], self.best[win2]
        clean1, clean2 = self.clean[win1], self.clean[win2]
        d1 = (old1 - clean1).astype(np.float64)
        d2 = (old2 - clean2).astype(np.float64)
        s1, s2 = np.sum(d1**2, axis=(1, 2)), np.sum(d2**2, axis=(1, 2))
        held = s1 + s2 - _overlap_energy(self.best, self.clean, t1, l1, t2, l2, s)  # (n, c)
        unit = d1 / (1e-10 + np.sqrt(s1)[:, None, None, :])
        bumps = np.stack([_meta_pert(s, bool(flag >= 0.5)) for flag in u[:, 4]])
        new = bumps[..., None] * signs[:, None, None, :] + unit
        room = np.maximum(self.eps**2 - self.energy, 0.0)[:, None] / c + held
        new *= (
            np.sqrt(room)[:, None, None, :] / np.sqrt(np.sum(new**2, axis=(1, 2)))[:, None, None, :]
        )
        new1 = toward(clean1, np.clip(clean1 + new, 0.0, LEVELS))
        # Window 2 is emptied, then window 1 written: where they overlap, window 1 wins. Only
        # the model's input takes the candidate; the levels take it where it is kept (most
        # candidates are not, and each write is a scatter over every live image).
        self.inputs[win2], self.inputs[win1] = self._encode(clean2), self._encode(new1)
        moved = np.sum((new1 - clean1).astype(np.float64) ** 2, axis=(1, 2, 3))
        energy = self.energy - held.sum(axis=1) + moved
        margin, fooled = evaluate(self.model, self.inputs, self.labels, encoded=True)
        self._count()
        worse = ~(margin < self.margin)
        for window, old, kept in ((win2, old2, clean2), (win1, old1, new1)):
            images, _, rows, cols = window
            back = (images[worse], slice(None), rows[worse], cols[worse])
            self.inputs[back] = self._encode(old[worse])
            ahead = (images[~worse], slice(None), rows[~worse], cols[~worse])
            self.best[ahead] = kept[~worse]
        self.energy = np.where(worse, self.energy, energy)
        self.margin = np.where(worse, self.margin, margin)
        done = fooled & ~worse
        if done.any():
            self.energy = self.energy[~done]
            self._retire(done)


def _overlap_energy(
    best: np.ndarray,
    clean: np.ndarray,
    t1: np.ndarray,
    l1: np.ndarray,
    t2: np.ndarray,
    l2: np.ndarray,
    s: int,
) -> np.ndarray:
    """Per image and channel, the squared perturbation inside both windows (counted twice by
    the two window sums)."""
    out = np.zeros((len(best), best.shape[1]))
    top, bottom = np.maximum(t1, t2), np.minimum(t1, t2) + s
    left, right = np.maximum(l1, l2), np.minimum(l1, l2) + s
    for k in np.flatnonzero((bottom > top) & (right > left)):
        region = (best[k, :, top[k] : bottom[k], left[k] : right[k]]).astype(np.float64)
        region = region - clean[k, :, top[k] : bottom[k], left[k] : right[k]]
        out[k] = np.sum(region**2, axis=(1, 2))
    return out


_PERT_CACHE: dict[tuple[int, bool], np.ndarray] = {}


def _meta_pert(s: int, transpose: bool) -> np.ndarray:
    """Two pseudo-Gaussian rectangles of opposite sign filling an ``s`` x ``s`` window."""
    key = (s, transpose)
    if key not in _PERT_CACHE:
        delta = np.zeros((s, s))
        delta[: s // 2] = _pseudo_gaussian(s // 2, s)
        delta[s // 2 :] = -_pseudo_gaussian(s - s // 2, s)
        delta /= np.sqrt(np.sum(delta**2))
        _PERT_CACHE[key] = delta.T.copy() if transpose else delta
    return _PERT_CACHE[key]


def _pseudo_gaussian(x: int, y: int) -> np.ndarray:
    delta = np.zeros((x, y))
    if x == 0:
        return delta
    cx, cy = x // 2 + 1, y // 2 + 1
    corner = [cx - 1, cy - 1]
    for k in range(max(cx, cy)):
        delta[
            max(corner[0], 0) : min(corner[0] + 2 * k + 1, x),
            max(corner[1], 0) : min(corner[1] + 2 * k + 1, y),
        ] += 1.0 / (k + 1) ** 2
        corner[0] -= 1
        corner[1] -= 1
    return np.asarray(delta / np.sqrt(np.sum(delta**2)))
