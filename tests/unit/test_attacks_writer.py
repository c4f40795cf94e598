"""validator.attacks.writer's background PNG writing: the same bytes as writing in place,
lossless, tasks queued behind the images, and a failure raised when the block ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from validator.attacks.writer import PENDING_PNGS, BackgroundPngs, write_png
from validator.errors import ValidatorError


def _levels(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (3, 24, 24)).astype(np.float32) for _ in range(count)]


def test_background_pngs_are_the_bytes_of_a_direct_write_and_lossless(tmp_path: Path) -> None:
    images = _levels(PENDING_PNGS + 5)  # more than the queue holds: the writer waits in between
    with BackgroundPngs() as pngs:
        for i, levels in enumerate(images):
            pngs.write(tmp_path / f"bg{i}.png", levels)
    for i, levels in enumerate(images):
        write_png(tmp_path / f"direct{i}.png", levels)
        assert (tmp_path / f"bg{i}.png").read_bytes() == (tmp_path / f"direct{i}.png").read_bytes()
        decoded = np.asarray(Image.open(tmp_path / f"bg{i}.png")).transpose(2, 0, 1)
        assert np.array_equal(decoded, levels.astype(np.uint8))


def test_a_failed_background_write_is_raised_when_the_block_ends(tmp_path: Path) -> None:
    with pytest.raises(ValidatorError, match="cannot write"), BackgroundPngs() as pngs:
        pngs.write(tmp_path / "missing" / "a.png", _levels(1)[0])


def test_a_task_queued_with_then_runs_after_every_image_before_it(tmp_path: Path) -> None:
    seen: list[int] = []
    with BackgroundPngs() as pngs:
        for i, levels in enumerate(_levels(PENDING_PNGS + 5)):
            pngs.write(tmp_path / f"{i}.png", levels)
        pngs.then(lambda: seen.append(len(list(tmp_path.glob("*.png")))))
    assert seen == [PENDING_PNGS + 5]


def test_a_failed_task_is_raised_when_the_block_ends(tmp_path: Path) -> None:
    def fail() -> None:
        raise ValidatorError("cannot move the set")

    with pytest.raises(ValidatorError, match="cannot move"), BackgroundPngs() as pngs:
        pngs.then(fail)
