"""validator.attacks.clean_levels: each clean image decoded once per run while the kept ones
fit the budget, the same levels as decoding it each time, and callers never share its arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.unit.test_attacks_models import SIZE, random_images, test_profile
from validator.attacks import clean_levels
from validator.attacks.clean_levels import CleanLevels
from validator.data.datasets import Sample

IMAGE_BYTES = 3 * SIZE * SIZE * 4


@pytest.fixture
def samples(tmp_path: Path) -> list[Sample]:
    found = []
    for i, image in enumerate(random_images(4, seed=5)):
        path = tmp_path / f"{i}.png"
        Image.fromarray(image.transpose(1, 2, 0).astype(np.uint8), mode="RGB").save(path)
        found.append(Sample(path, path.name, i))
    return found


@pytest.mark.parametrize(("budget", "kept"), [(0, 0), (IMAGE_BYTES * 2, 2), (10**9, 4)])
def test_levels_are_the_same_whether_kept_or_decoded_again(
    samples: list[Sample], monkeypatch: pytest.MonkeyPatch, budget: int, kept: int
) -> None:
    decoded: list[Path] = []
    real = clean_levels.load_image

    def counting(path: Path, *args: object) -> np.ndarray:
        decoded.append(path)
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(clean_levels, "load_image", counting)
    cache = CleanLevels(test_profile(), budget_bytes=budget)
    first = cache.load(samples)
    first[:] = -1  # a caller changing its images must not change the next caller's
    second = cache.load(samples)
    assert np.array_equal(second, random_images(4, seed=5))
    assert len(decoded) == 8 - kept  # kept images were decoded once, the others twice
