"""A handful of real images for the runtime checks, taken from the profile's reference set."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from validator.config import Profile
from validator.data.images import load_image
from validator.resources import reference_set

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class SampleImages:
    """N x 3 x S x S float32 tensors and where they came from (shown in the report)."""

    tensors: np.ndarray
    source: str


def sample_images(profile: Profile, count: int) -> SampleImages:
    """The first ``count`` clean reference images of ``profile``, or seeded synthetic images
    when the reference data is not installed (the report then says so)."""
    root = reference_set(profile.reference_data)
    files = _first_images(root / "clean", count) if root is not None else []
    if root is not None and files:
        tensors = np.stack(
            [
                load_image(f, profile.input_size, profile.resize, profile.channel_order)
                for f in files
            ]
        )
        return SampleImages(tensors, f"{len(files)} images of reference_data/{root.name}/clean")
    return SampleImages(_synthetic(count, profile.input_size), f"{count} synthetic images")


def _first_images(folder: Path, count: int) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count]


def _synthetic(count: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(0.2, 1.0, 3).astype(np.float32)
        ramp = np.broadcast_to(grid * c, (size, size))
        base = np.stack([np.outer(grid, grid) * a, np.add.outer(grid, -grid) * b % 1, ramp])
        noise = rng.normal(0, 0.05, (3, size, size)).astype(np.float32)
        images.append(np.clip(base + noise, 0, 1).astype(np.float32))
    return np.stack(images)
