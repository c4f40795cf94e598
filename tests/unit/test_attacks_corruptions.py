"""The 15 ImageNet-C corruptions: valid images at every severity, seeded, stronger with
severity, and the numpy filters they rest on agree with direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from validator.attacks import filters
from validator.attacks.corruption import Corruption
from validator.attacks.imagenet_c import CORRUPTIONS
from validator.attacks.model_fn import QueryModel
from validator.vocab import ChannelOrder

RANDOM = {"gaussian-noise", "shot-noise", "impulse-noise", "glass-blur", "motion-blur", "snow",
          "frost", "fog", "elastic-transform"}  # fmt: skip


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 32 x 32 RGB image with structure (gradients and a disc) in [0, 1]."""
    grid = np.linspace(0, 1, 32)
    disc = ((grid[:, None] - 0.5) ** 2 + (grid[None, :] - 0.4) ** 2 < 0.06).astype(float)
    return np.stack(
        [np.outer(grid, np.ones(32)), 0.3 + 0.5 * disc, np.outer(np.ones(32), grid)], -1
    )


def test_there_are_the_fifteen_imagenet_c_corruptions() -> None:
    assert len(CORRUPTIONS) == 15


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_every_severity_gives_a_valid_changed_image(image: np.ndarray, name: str) -> None:
    changes = []
    for severity in range(1, 6):
        out = CORRUPTIONS[name](image, severity, np.random.default_rng(severity))
        assert out.shape == image.shape and np.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1
        changes.append(float(np.abs(out - image).mean()))
    assert max(changes) > 0.005
    if name != "elastic-transform":  # the reference's elastic constants are not monotone
        assert changes[4] >= changes[0] * 0.8  # severity 5 is not milder than severity 1


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_corruptions_follow_the_seed(image: np.ndarray, name: str) -> None:
    corrupt = CORRUPTIONS[name]
    first = corrupt(image, 3, np.random.default_rng(5))
    assert np.array_equal(first, corrupt(image, 3, np.random.default_rng(5)))
    assert not np.array_equal(first, corrupt(image, 3, np.random.default_rng(6)))


def test_corruption_attack_asks_the_model_once_and_reports_success() -> None:
    levels = np.full((2, 3, 8, 8), 128.0, dtype=np.float32)
    model = QueryModel(lambda x: x.reshape(len(x), 3, -1).mean(axis=2), ChannelOrder.RGB)
    result = Corruption("brightness", 5).run(model, levels, np.array([0, 1]), [1, 2], 1)
    assert np.all(result.images >= levels)  # brighter, on the grid
    assert np.array_equal(result.images, np.rint(result.images))
    assert list(result.queries) == [1, 1] and model.queries == 2


def test_fft_convolution_matches_a_direct_sum() -> None:
    rng = np.random.default_rng(0)
    kernel, image = rng.random((5, 5)), rng.random((9, 11, 3))
    rows = filters.fold(np.arange(-2, 11), 9, "mirror")
    cols = filters.fold(np.arange(-2, 13), 11, "mirror")
    padded = image[rows][:, cols]
    direct = sum(kernel[a, b] * padded[a : a + 9, b : b + 11] for a in range(5) for b in range(5))
    assert np.allclose(filters.convolve(image, kernel), direct)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("reflect", [1, 0, 0, 1, 2, 3, 3, 2]), ("mirror", [2, 1, 0, 1, 2, 3, 2, 1]),
     ("nearest", [0, 0, 0, 1, 2, 3, 3, 3])],
)  # fmt: skip
def test_boundary_modes(mode: str, expected: list[int]) -> None:
    assert filters.fold(np.arange(-2, 6), 4, mode).tolist() == expected


def test_hsv_round_trip() -> None:
    rgb = np.random.default_rng(1).random((6, 7, 3))
    assert np.allclose(filters.hsv_to_rgb(filters.rgb_to_hsv(rgb)), rgb)


def test_gaussian_blur_keeps_constants_and_mass() -> None:
    flat = np.full((12, 12, 3), 0.3)
    assert np.allclose(filters.gaussian(flat, 2.0), 0.3)
    spike = np.zeros((21, 21))
    spike[10, 10] = 1.0
    assert np.isclose(filters.gaussian(spike, 1.5).sum(), 1.0)


@pytest.mark.parametrize("angle", [0.0, 30.0, -45.0, 90.0, 135.0])
def test_motion_blur_is_the_weighted_sum_of_edge_repeating_shifts(angle: float) -> None:
    """Pixel by pixel: tap i reads the image shifted by (dx, dy) along the angle, the edge
    repeated into the uncovered band, weighted by a one-sided Gaussian."""
    image = np.random.default_rng(3).random((9, 13, 3))
    radius, sigma = 4, 2.0
    width = 2 * radius + 1
    kernel = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()
    py, px = width * np.sin(np.radians(angle)), width * np.cos(np.radians(angle))
    hyp = np.hypot(py, px)
    expected = np.zeros_like(image)
    for i in range(width):
        dy, dx = -int(np.ceil(i * py / hyp - 0.5)), -int(np.ceil(i * px / hyp - 0.5))
        for y in range(9):
            for x in range(13):
                source = image[min(max(y - dy, 0), 8), min(max(x - dx, 0), 12)]
                expected[y, x] += kernel[i] * source
    found = filters.motion_blur(image, radius, sigma, angle)
    assert np.allclose(found, expected, rtol=0, atol=1e-12)
