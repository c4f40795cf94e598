"""Benign changes that Track 2 applies to clean and adversarial images alike (blur, brightness,
grey, colour), so that a detector cannot flag "any change" as an attack.

Each takes an RGB image (H x W x 3 float64 in [0, 1]) and a seeded generator and returns the
changed image in [0, 1]; the strength is drawn from a fixed range, so a seed fixes the bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from validator.attacks import filters
from validator.attacks.base import image_seed

Benign = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def blur(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma 0.6-1.6 % of the image side."""
    sigma = rng.uniform(0.006, 0.016) * max(x.shape[:2])
    return np.asarray(np.clip(filters.gaussian(x, sigma, mode="mirror"), 0, 1))


def brightness(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every value shifted by -0.25..0.25, then clipped."""
    return np.asarray(np.clip(x + rng.uniform(-0.25, 0.25), 0, 1))


def grey(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Desaturated by 60-100 % towards the luma (ITU-R BT.601 weights)."""
    luma = x @ np.array([0.299, 0.587, 0.114])
    amount = rng.uniform(0.6, 1.0)
    return np.asarray(np.clip(x * (1 - amount) + luma[..., None] * amount, 0, 1))


def colour(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each channel scaled by 0.7-1.3 (a colour cast)."""
    return np.asarray(np.clip(x * rng.uniform(0.7, 1.3, 3), 0, 1))


BENIGN: Mapping[str, Benign] = MappingProxyType(
    {"blur": blur, "brightness": brightness, "grey": grey, "colour": colour}
)


def assign(names: Sequence[str], fraction: float, seed: int, set_name: str) -> list[str | None]:
    """Which benign change each image gets (None for most): a seeded draw per image name, so the
    choice does not depend on the order or number of other images."""
    families = sorted(BENIGN)
    chosen: list[str | None] = []
    for name in names:
        rng = np.random.default_rng(image_seed(seed, "benign", set_name, name))
        chosen.append(
            families[int(rng.integers(len(families)))] if rng.random() < fraction else None
        )
    return chosen


def apply(levels: np.ndarray, family: str, seed: int) -> np.ndarray:
    """``family`` applied to 3 x H x W RGB levels (0-255), returned as levels."""
    rgb = levels.transpose(1, 2, 0).astype(np.float64) / 255.0
    changed = BENIGN[family](rgb, np.random.default_rng(seed))
    return np.rint(changed.transpose(2, 0, 1) * 255.0)
