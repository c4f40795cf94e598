"""Adaptive EOT: a deterministic model is differentiated once; a randomized model starts at
START_DRAWS draws per image and doubles them while the averaged gradient's relative standard
error is above SE_TARGET, up to MAX_DRAWS; each image stops on its own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from validator.attacks.eot import MAX_DRAWS, SE_TARGET, START_DRAWS, Grad, loss_and_grad

torch = pytest.importorskip("torch")

PIXELS = 48


def _logits(noise: list[float]) -> Any:
    """Two-class logits, linear in x, plus per-image gradient noise of scale ``noise[i]``
    (a fresh draw on every call, as a randomized model's)."""
    weights = torch.linspace(-1, 1, PIXELS, dtype=torch.float64).reshape(1, PIXELS)
    scale = torch.tensor(noise, dtype=torch.float64)[:, None]

    def logits(x: Any) -> Any:
        flat = x.flatten(1)
        jitter = (torch.randn_like(flat) * scale[: len(x)] * flat).sum(1)
        first = (flat * weights).sum(1) + jitter
        return torch.stack([first, -first], dim=1)

    return logits


def _ce(torch: Any, z: Any, y: Any) -> Any:
    return torch.nn.functional.cross_entropy(z, y, reduction="none")


@pytest.mark.parametrize(
    ("random", "noise", "low", "high"),
    [
        (False, 0.0, 1, 1),  # deterministic: one draw, no variance estimate
        (False, 5.0, 1, 1),  # not declared random: still one draw
        (True, 0.0, START_DRAWS, START_DRAWS),  # random but the draws agree: stop at the start
        (True, 1.0, START_DRAWS * 2, MAX_DRAWS // 2),  # moderate: grows, stops before the cap
        (True, 50.0, MAX_DRAWS, MAX_DRAWS),  # noise dominates: the cap
    ],
)
def test_draws_adapt_to_the_gradient_noise(random: bool, noise: float, low: int, high: int) -> None:
    torch.manual_seed(0)
    x = torch.full((3, PIXELS), 0.5, dtype=torch.float64)
    y = torch.zeros(3, dtype=torch.int64)
    fn = Grad(_logits([noise] * 3), _ce, random=random)
    loss, grad, fooled = loss_and_grad(torch, fn, x, y)
    assert loss.shape == (3,) and grad.shape == x.shape and fooled.shape == (3,)
    (taken,) = fn.draws
    assert all(low <= int(t) <= high for t in taken), taken


def test_each_image_stops_on_its_own() -> None:
    torch.manual_seed(1)
    x = torch.full((2, PIXELS), 0.5, dtype=torch.float64)
    fn = Grad(_logits([0.0, 50.0]), _ce, random=True)
    loss_and_grad(torch, fn, x, torch.zeros(2, dtype=torch.int64))
    assert fn.draws[0].tolist() == [START_DRAWS, MAX_DRAWS]
    mean, total = fn.per_image(2)
    assert mean.tolist() == [START_DRAWS, MAX_DRAWS] and total.tolist() == [4, 64]


def test_the_averaged_gradient_meets_the_target_when_below_the_cap() -> None:
    """Re-estimate the relative standard error from independent repeats of the average."""
    torch.manual_seed(2)
    x = torch.full((1, PIXELS), 0.5, dtype=torch.float64)
    y = torch.zeros(1, dtype=torch.int64)
    fn = Grad(_logits([1.0]), _ce, random=True)
    grads = [loss_and_grad(torch, fn, x, y)[1].numpy()[0] for _ in range(40)]
    mean = np.mean(grads, axis=0)
    spread = np.sqrt(np.sum(np.var(grads, axis=0, ddof=1)))
    assert max(int(d[0]) for d in fn.draws) < MAX_DRAWS
    assert spread / np.linalg.norm(mean) <= 1.5 * SE_TARGET  # estimate of an estimate: slack
