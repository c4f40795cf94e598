"""The clean images of an attack run as 8-bit levels, decoded once per run where they fit.

Every set of a suite attacks the same clean images: the standard suite has 79 sets, and
decoding and resizing each image 79 times was 3.6% of its time on the bundled baseline. Images
are kept after their first decoding while the kept ones stay under :data:`BUDGET_BYTES`; past
that (a run over thousands of images) the rest are decoded each time, so memory stays bounded
whatever the set's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from validator.attacks.base import LEVELS
from validator.config import Profile
from validator.data.datasets import Sample
from validator.data.images import load_image
from validator.vocab import ChannelOrder

BUDGET_BYTES = 256 * 2**20  # ~440 images of 224 x 224 x 3 float32


class CleanLevels:
    """Decodes samples in the profile's preprocessing (RGB levels, N x 3 x H x W float32)."""

    def __init__(self, profile: Profile, budget_bytes: int = BUDGET_BYTES) -> None:
        self.profile, self.budget = profile, budget_bytes
        self._kept: dict[str, np.ndarray] = {}
        self._bytes = 0

    def load(self, samples: Sequence[Sample]) -> np.ndarray:
        """The samples' levels, stacked (a new array: callers may change it)."""
        return np.stack([self._one(sample) for sample in samples])

    def _one(self, sample: Sample) -> np.ndarray:
        key = str(sample.path)
        found = self._kept.get(key)
        if found is not None:
            return found
        size, resize = self.profile.input_size, self.profile.resize
        tensor = load_image(sample.path, size, resize, ChannelOrder.RGB)
        levels = np.rint(tensor * LEVELS).astype(np.float32)
        if self._bytes + levels.nbytes <= self.budget:
            self._kept[key], self._bytes = levels, self._bytes + levels.nbytes
        return levels
