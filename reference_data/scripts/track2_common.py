"""Shared pieces of the Track 2 scripts: the open-set classes, rendering, and white-box PGD.

Open set: Track 2's images show shapes no Track 1 class uses (pentagon, hexagon, chevron, bowtie,
kite) with the same ten fill patterns, so the surrogate (the Track 1 ``final`` baseline) has never
seen their classes. Profile id 3 keeps their seeds apart from the Track 1 sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

import common
from common import PATTERNS, ProfileSpec, _classes
from render import render_image
from torch_utils import StoredImageModel, hwc_uint8_to_tensor, tensor_to_hwc_uint8

OPEN_SET_SHAPES: tuple[str, ...] = ("pentagon", "hexagon", "chevron", "bowtie", "kite")
TRACK2 = ProfileSpec("track2", 3, _classes(OPEN_SET_SHAPES, PATTERNS))
"""50 open-set classes (label = shape x 10 + pattern; the labels are never used for scoring)."""

STREAM_TEST = 0
STREAM_WHITEBOX = 20
STREAM_TRAIN = 30
SURROGATE = common.REFERENCE_ROOT / "final" / "baseline.onnx"


def render(seed: int, stream: int, indices: Sequence[int]) -> np.ndarray:
    """Open-set images ``(N, 64, 64, 3)`` uint8, image ``i`` of class ``i % 50``."""
    return np.stack(
        [
            render_image(common.image_seed(seed, TRACK2, stream, int(i)),
                         TRACK2.classes[int(i) % TRACK2.num_classes], common.IMAGE_SIZE)
            for i in indices
        ]
    )


def surrogate_labels(model: StoredImageModel, images: np.ndarray) -> np.ndarray:
    """The surrogate's own predictions (open-set images have no label it knows)."""
    with torch.no_grad():
        return model(hwc_uint8_to_tensor(images)).argmax(1).numpy()


def pgd(model: StoredImageModel, images: np.ndarray, labels: np.ndarray, norm: str, eps: float,
        steps: int, seed: int) -> np.ndarray:
    """Untargeted PGD (cross-entropy ascent from a random start) in the stored 64 x 64 space;
    ``eps`` in [0, 1] units (L-inf) or as an L2 norm over the 64 x 64 x 3 image."""
    gen = torch.Generator().manual_seed(seed)
    x0 = hwc_uint8_to_tensor(images)
    y = torch.from_numpy(labels.astype(np.int64))
    step = 2.5 * eps / steps
    delta = (torch.rand(x0.shape, generator=gen) * 2 - 1) * (eps if norm == "linf" else 0.0)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model((x0 + delta).clamp(0, 1)), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "linf":
                delta = (delta + step * grad.sign()).clamp(-eps, eps)
            else:
                g = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12)[:, None, None, None]
                delta = delta + step * g
                scale = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)
                delta = delta * scale[:, None, None, None]
            delta = (x0 + delta).clamp(0, 1) - x0
    return tensor_to_hwc_uint8(x0 + delta)
