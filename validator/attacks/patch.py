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
from validator.attacks.search import (
    Window,
    clean_pass,
    compact,
    encode_last,
    evaluate,
    positions,
    uniform_draws,
    window_index,
)


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
        state = _Patch(content, top, left, np.full(n, np.inf), start.fooled.copy())
        queries = model.last_draws.copy()
        todo = np.flatnonzero(~start.fooled)
        if len(todo) and evaluations > 1:
            live = _LivePatches(model, images, labels, todo, state)
            queries[todo] += model.last_draws
            live.retire()
            for step in range(steps):
                if not len(live.rows):
                    break
                self._step(live, u[live.rows, step + 1], step, steps)
                queries[live.rows] += model.last_draws
                live.retire()
        out = images.copy()
        out[todo] = _paste(images[todo], content[todo], top[todo], left[todo])
        return AttackResult(out, queries, state.fooled, {"patch_side": [side] * n})

    def _step(self, live: _LivePatches, u: np.ndarray, step: int, steps: int) -> None:
        """One query per live image: a moved patch or a repainted square inside it."""
        _, c, h, w = live.inputs.shape
        state, rows = live.state, live.rows
        side = state.content.shape[-1]
        top, left = state.top[rows], state.left[rows]
        if self.move_every > 0 and step % self.move_every == self.move_every - 1:
            reach = max(1, round(p_schedule(1.0, step, steps) * max(h, w)))
            top = np.clip(top + np.rint((u[:, 0] * 2 - 1) * reach).astype(np.int64), 0, h - side)
            left = np.clip(left + np.rint((u[:, 1] * 2 - 1) * reach).astype(np.int64), 0, w - side)
            live.try_move(top, left)
        else:
            s = int(min(max(round(np.sqrt(p_schedule(self.p_init, step, steps)) * side), 1), side))
            inside = positions(u[:, 0], side - s + 1), positions(u[:, 1], side - s + 1)
            colour = np.where(u[:, 3 : 3 + c] < 0.5, 0.0, LEVELS).astype(np.float32)
            live.try_paint(window_index(*inside, s), colour)


class _Patch:
    """Per-image patch state (content in levels, place, best margin, success)."""

    def __init__(
        self,
        content: np.ndarray,
        top: np.ndarray,
        left: np.ndarray,
        margin: np.ndarray,
        fooled: np.ndarray,
    ) -> None:
        self.content, self.top, self.left = content, top, left
        self.margin, self.fooled = margin, fooled


class _LivePatches:
    """The images still searched, kept compact and kept as the model's input tensors (the clean
    input with the image's best patch pasted), so that a candidate writes only the pixels it
    changes and a rejected one puts them back: no pass over whole images but the model's own
    (the same design as Square's live set)."""

    def __init__(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        todo: np.ndarray,
        state: _Patch,
    ) -> None:
        self.model, self.state, self.rows = model, state, todo
        self.labels = labels[todo]
        self.clean = model.encode(images[todo])  # never compacted: read through ``slots``
        self.slots = np.arange(len(todo))
        self.inputs = self.clean.copy()
        self.inputs[self._window(state.top[todo], state.left[todo])] = self._content()
        state.margin[todo], state.fooled[todo] = self._evaluate()

    def _window(self, top: np.ndarray, left: np.ndarray, which: np.ndarray | None = None) -> Window:
        return window_index(top, left, self.state.content.shape[-1], which)

    def _on_clean(self, window: Window) -> Window:
        """The same window on the clean inputs (which keep every image's first slot)."""
        return self.slots[window[0]], *window[1:]

    def _content(self, which: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The live images' patch contents as model input values, channels last."""
        levels = self.state.content[self.rows[which]].transpose(0, 2, 3, 1)
        return encode_last(levels, self.model.order)

    def _evaluate(self) -> tuple[np.ndarray, np.ndarray]:
        return evaluate(self.model, self.inputs, self.labels, encoded=True)

    def try_move(self, top: np.ndarray, left: np.ndarray) -> None:
        """Query every live patch at a new place; keep the places whose margin does not grow."""
        state, rows = self.state, self.rows
        old = self._window(state.top[rows], state.left[rows])
        self.inputs[old] = self.clean[self._on_clean(old)]
        self.inputs[self._window(top, left)] = self._content()
        keep = self._judge()
        back = np.flatnonzero(~keep)
        if len(back):  # clean the new place first: it may overlap the old one
            new = self._window(top[back], left[back], back)
            self.inputs[new] = self.clean[self._on_clean(new)]
            self.inputs[self._window(state.top[rows[back]], state.left[rows[back]], back)] = (
                self._content(back)
            )
        chosen = rows[keep]
        state.top[chosen], state.left[chosen] = top[keep], left[keep]

    def try_paint(self, inside: Window, colour: np.ndarray) -> None:
        """Query every live patch with one square (``inside``, patch coordinates) repainted in
        ``colour``; keep the paintings whose margin does not grow."""
        state, rows = self.state, self.rows
        which, _, r, c = inside
        content = state.content[rows]  # a copy (fancy indexing)
        before = content[inside]
        content[inside] = colour[:, None, None, :]
        spot = (which, slice(None), state.top[rows][:, None, None] + r,
                state.left[rows][:, None, None] + c)  # fmt: skip
        self.inputs[spot] = encode_last(content[inside], self.model.order)
        keep = self._judge()
        back = ~keep
        if back.any():
            undo = (which[back], slice(None), spot[2][back], spot[3][back])
            self.inputs[undo] = encode_last(before[back], self.model.order)
        state.content[rows[keep]] = content[keep]

    def _judge(self) -> np.ndarray:
        """Query the live inputs: True where the margin did not grow (ties kept, so that a flat
        loss still wanders); records margin and success of the kept ones."""
        margin, fooled = self._evaluate()
        keep = margin <= self.state.margin[self.rows]
        chosen = self.rows[keep]
        self.state.margin[chosen], self.state.fooled[chosen] = margin[keep], fooled[keep]
        return np.asarray(keep)

    def retire(self) -> None:
        """Drop the images that are fooled (their state is final)."""
        done = self.state.fooled[self.rows]
        if done.any():
            keep = ~done
            self.rows, self.labels = self.rows[keep], self.labels[keep]
            self.slots = self.slots[keep]
            self.inputs = compact(self.inputs, keep)


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
