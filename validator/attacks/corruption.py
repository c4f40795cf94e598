"""One ImageNet-C corruption at one severity, as an attack that asks the model once per image
(to record whether the corrupted image is misclassified)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from validator.attacks.base import LEVELS, AttackResult, Family, nearest
from validator.attacks.imagenet_c import CORRUPTIONS
from validator.attacks.model_fn import QueryModel

SEVERITIES = (1, 2, 3, 4, 5)


class Corruption:
    """``corruption`` (an ImageNet-C name, e.g. ``fog``) at ``severity`` 1-5. Its set is called
    ``<corruption>-s<severity>``."""

    family = Family.CORRUPTION

    def __init__(self, corruption: str, severity: int) -> None:
        self.corruption, self.severity = corruption, int(severity)
        self.function = CORRUPTIONS[corruption]
        self.name = f"{corruption}-s{self.severity}"

    @property
    def params(self) -> Mapping[str, Any]:
        """The corruption's name and severity."""
        return {"corruption": self.corruption, "severity": self.severity}

    def corrupt(self, images: np.ndarray, seeds: Sequence[int]) -> np.ndarray:
        """Corrupted copies of ``images`` (levels), each from its own seeded generator."""
        out = np.empty_like(images)
        for i, seed in enumerate(seeds):
            rgb = images[i].transpose(1, 2, 0).astype(np.float64) / LEVELS
            result = self.function(rgb, self.severity, np.random.default_rng(int(seed)))
            out[i] = nearest(result.transpose(2, 0, 1) * LEVELS)
        return out

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Corrupt each image and classify it once (``budget`` is not used)."""
        out = self.corrupt(images, seeds)
        success = np.asarray(model.predict(out) != labels)
        queries = np.full(len(images), model.draws, dtype=np.int64)
        return AttackResult(out, queries, success)
