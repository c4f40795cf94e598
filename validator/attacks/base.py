"""The one interface every attack and corruption implements, and what they share.

Images travel as float32 arrays of 8-bit *levels* (0.0 ... 255.0, whole numbers), N x 3 x H x W,
in RGB order whatever the model's channel order (:class:`~validator.attacks.model_fn.QueryModel`
flips channels for a BGR model). Keeping attacks on the 8-bit grid means the PNG that is written
is exactly the tensor that was attacked: re-scoring the written set from disk gives the same
predictions the attack measured.

Each image carries its own seed, and every random draw for that image comes from a generator
built from that seed, so an image's result does not depend on which other images share its batch.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from validator.attacks.model_fn import QueryModel

LEVELS = 255.0


class Family(str, enum.Enum):
    """What kind of attacked set an attack produces (shown in manifests and reports)."""

    ADVERSARIAL = "adversarial"  # norm-bounded black-box perturbation
    PATCH = "patch"
    LIGHT = "light"
    CORRUPTION = "corruption"
    WHITEBOX = "white-box"


@dataclass(frozen=True)
class AttackResult:
    """What one attack did to a batch of images.

    ``images`` are 8-bit levels (float32, RGB, N x 3 x H x W); ``queries`` counts model
    evaluations per image (an expectation over several runs counts each run); ``success`` is True
    where the model's prediction on the returned image differs from the label. ``per_image`` holds
    extra per-image facts for the manifest (lists of length N, e.g. the method actually used).
    """

    images: np.ndarray
    queries: np.ndarray
    success: np.ndarray
    per_image: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_image", MappingProxyType(dict(self.per_image)))


class Attack(Protocol):
    """An attack or corruption: ``run`` never changes its inputs and is deterministic in seeds."""

    @property
    def name(self) -> str:
        """The set name it writes (``square-linf``, ``fog-s3``)."""

    @property
    def family(self) -> Family:
        """Adversarial, patch, light, corruption or white-box."""

    @property
    def params(self) -> Mapping[str, Any]:
        """Every parameter that changes its output (JSON-serialisable), for the manifest."""

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Attack ``images`` (levels) with at most ``budget`` model queries per image."""


def image_seed(base: int, *parts: str) -> int:
    """A 63-bit seed for one image of one set, stable across runs, machines and batchings."""
    text = "\x1f".join((str(base), *parts)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def generators(seeds: Sequence[int]) -> list[np.random.Generator]:
    """One PCG64 generator per image."""
    return [np.random.default_rng(int(s)) for s in seeds]


def eps_levels(eps: float) -> float:
    """An L-infinity radius given in [0, 1] units as whole 8-bit levels, rounded down
    (8/255 -> 8) so that the quantised perturbation never exceeds the requested radius."""
    return float(np.floor(eps * LEVELS + 1e-6))


def toward(clean: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` snapped to the 8-bit grid by rounding each change towards ``clean``: a
    perturbation quantised this way has no larger a norm (any p) than before."""
    delta = np.trunc(target.astype(np.float64, copy=False) - clean)
    return np.asarray(np.clip(clean + delta, 0.0, LEVELS).astype(np.float32))


def nearest(target: np.ndarray) -> np.ndarray:
    """``target`` rounded to the nearest 8-bit level and clipped (for unbounded changes)."""
    return np.asarray(np.clip(np.rint(target), 0.0, LEVELS).astype(np.float32))


def misclassified(model: QueryModel, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """True where the model's top class is not the label (one query per image)."""
    return np.asarray(model.predict(images) != labels)


def margins(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Score of the label minus the best other score (negative = misclassified)."""
    rows = np.arange(len(labels))
    true = scores[rows, labels]
    other = scores.copy()
    other[rows, labels] = -np.inf
    return np.asarray(true - other.max(axis=1), dtype=np.float64)


def p_schedule(p_init: float, iteration: int, budget: int) -> float:
    """Square Attack's piecewise-constant schedule of the fraction of pixels changed, rescaled
    from its 10,000-query design to ``budget``."""
    it = int(iteration / max(budget, 1) * 10000)
    for bound, divisor in _SCHEDULE:
        if it <= bound:
            return p_init / divisor
    return p_init / 512


_SCHEDULE = (
    (10, 1),
    (50, 2),
    (200, 4),
    (500, 8),
    (1000, 16),
    (2000, 32),
    (4000, 64),
    (6000, 128),
    (8000, 256),
)
