"""What score-based random searches share: the first query on clean images, per-image state,
and per-image random draws made in advance.

Every search here starts the same way: one query on the clean images tells which are already
misclassified (nothing to do), which give saturated outputs (no score signal: hand them to a
decision-based search) and which can be attacked through their margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from validator.attacks.base import margins
from validator.attacks.model_fn import QueryModel
from validator.vocab import ChannelOrder


@dataclass
class Start:
    """The clean pass: raw outputs, which images are fooled already, which are saturated."""

    margin: np.ndarray
    fooled: np.ndarray
    saturated: np.ndarray


def clean_pass(model: QueryModel, images: np.ndarray, labels: np.ndarray) -> Start:
    """One query per image on the clean images."""
    raw, scores = model.margin_query(images, labels)
    fooled = np.argmax(raw, axis=1) != labels
    return Start(margins(scores, labels), fooled, model.saturated(raw) & ~fooled)


def evaluate(
    model: QueryModel, images: np.ndarray, labels: np.ndarray, *, encoded: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(margin, fooled) for candidate images (levels, or model inputs with ``encoded``)."""
    raw, scores = model.margin_query(images, labels, encoded=encoded)
    return margins(scores, labels), np.asarray(np.argmax(raw, axis=1) != labels)


def uniform_draws(rngs: Sequence[np.random.Generator], iterations: int, width: int) -> np.ndarray:
    """``(images, iterations, width)`` uniform [0, 1) numbers, each image from its own stream."""
    if not rngs:
        return np.zeros((0, iterations, width))
    return np.stack([rng.random((iterations, width)) for rng in rngs])


def sign_draws(rngs: Sequence[np.random.Generator], shape: tuple[int, ...]) -> np.ndarray:
    """``(images, *shape)`` random signs (+1 / -1) as float32."""
    if not rngs:
        return np.zeros((0, *shape), dtype=np.float32)
    return np.stack([rng.choice(np.array([-1.0, 1.0], np.float32), size=shape) for rng in rngs])


def positions(u: np.ndarray, span: int) -> np.ndarray:
    """Integer positions in ``[0, span)`` from uniform numbers (``span`` >= 1)."""
    return np.minimum((u * span).astype(np.int64), max(span - 1, 0))


Window = tuple[np.ndarray, slice, np.ndarray, np.ndarray]


def window_index(
    top: np.ndarray, left: np.ndarray, size: int, images: np.ndarray | None = None
) -> Window:
    """An index selecting one ``size`` x ``size`` window per image of an N x C x H x W array
    (images ``images``, default 0..len(top)-1): ``array[window]`` has shape
    (images, size, size, channels)."""
    steps = np.arange(size)
    rows = (top[:, None] + steps)[:, :, None]
    cols = (left[:, None] + steps)[:, None, :]
    which = np.arange(len(top)) if images is None else np.asarray(images)
    return which[:, None, None], slice(None), rows, cols


def encode_last(values: np.ndarray, order: ChannelOrder) -> np.ndarray:
    """Model input values for levels with the channels last (what ``array[window]`` gives),
    bit-for-bit as :func:`validator.attacks.model_fn.to_input` encodes whole images."""
    ordered = values[..., ::-1] if order is ChannelOrder.BGR else values
    return np.asarray(np.divide(ordered, np.float32(255.0), dtype=np.float32))


def compact(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``array[keep]`` along the first axis, made in place: only the rows after the first
    dropped one move, and the result is a leading view of ``array`` (contiguous when it is).
    The live sets of the searches drop rows one query at a time; a full copy each time cost
    them a pass over every live image."""
    dropped = np.flatnonzero(~keep)
    if not len(dropped):
        return array
    first = int(dropped[0])
    kept = array[first:][keep[first:]]  # a copy of the rows that move
    array[first : first + len(kept)] = kept
    return array[: first + len(kept)]
