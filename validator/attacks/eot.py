"""The loss and input gradient white-box attacks step on, with expectation over transformation
(EOT, Athalye et al. 2018) for randomized models and an adaptive number of draws.

The rule, per image and per gradient: a deterministic model is differentiated once (1 draw, no
variance estimate, no cost). A randomized model starts at :data:`START_DRAWS` draws; while the
relative standard error of the averaged gradient, ``||sd / sqrt(n)||_2 / ||mean||_2`` (``sd`` the
per-pixel standard deviation over the ``n`` draws), is above :data:`SE_TARGET`, the image gets as
many draws again (4, 8, 16, 32, 64), up to :data:`MAX_DRAWS`. At the target the averaged
gradient's expected cosine with the true expected gradient is about ``1 / sqrt(1 + 0.5^2)``
= 0.89, so steps follow the expectation rather than one draw's noise; weak noise stops at 4
draws, strong noise pays for what it needs. :class:`Grad` keeps the draws taken per call, so
the attack can record them per image and per set.

torch is passed in (never imported here): this module is used only with the white-box extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

START_DRAWS = 4  # draws per image and gradient of a randomized model, at first
MAX_DRAWS = 64  # and at most (the same cap as the score-based attacks' runs per evaluation)
SE_TARGET = 0.5  # relative standard error of the averaged gradient to reach


@dataclass
class Grad:
    """Loss and input gradient of ``logits`` (a function of the input batch); ``random`` turns
    on adaptive EOT. ``draws`` collects, per call, the draws each image took; ``blind`` says
    that the loss did not depend differentiably on the input (the gradient was zero)."""

    logits: Any
    loss: Any
    random: bool = False
    start: int = START_DRAWS
    cap: int = MAX_DRAWS
    target: float = SE_TARGET
    draws: list[np.ndarray] = field(default_factory=list)
    blind: bool = False  # set when no gradient reached the input

    def per_image(self, images: int) -> tuple[np.ndarray, np.ndarray]:
        """Per image: mean draws per gradient and total draws over all calls."""
        if not self.draws:
            return np.ones(images), np.zeros(images, dtype=np.int64)
        taken = np.stack(self.draws)
        return taken.mean(axis=0), taken.sum(axis=0).astype(np.int64)


def loss_and_grad(torch: Any, fn: Grad, x: Any, y: Any) -> tuple[Any, Any, Any]:
    """(mean loss, mean gradient, fooled) per image; fooled judges the mean softmax over the
    draws (one draw for a deterministic model)."""
    if not fn.random:
        loss, grad, p = _draw(torch, fn, x, y)
        fn.draws.append(np.ones(len(x), dtype=np.int64))
        return loss, grad, p.argmax(1) != y
    sums = _Sums(torch, x)
    active = torch.arange(len(x))
    more = min(fn.start, fn.cap)
    while len(active) and more > 0:
        for _ in range(more):
            loss, grad, p = _draw(torch, fn, x[active], y[active])
            sums.add(active, loss, grad, p)
        sums.count[active] += more
        done = int(sums.count[active[0]])
        keep = sums.relative_se(active) > fn.target
        active = active[keep]
        more = min(done, fn.cap - done)  # as many again: the count doubles
    fn.draws.append(sums.count.numpy().astype(np.int64))
    n = sums.count.to(x.dtype)
    mean_p = sums.p / n[:, None]
    return sums.loss / n, sums.grad / n.reshape(-1, *([1] * (x.dim() - 1))), mean_p.argmax(1) != y


def _draw(torch: Any, fn: Grad, x: Any, y: Any) -> tuple[Any, Any, Any]:
    leaf = x.clone().requires_grad_(True)
    z = fn.logits(leaf)
    loss = fn.loss(torch, z, y)
    if not loss.requires_grad:  # no path from the input carries a gradient (an uncovered
        fn.blind = True  # non-differentiable operator): the attack steps nowhere, and says so
        return loss.detach(), torch.zeros_like(x), torch.softmax(z.detach(), dim=1)
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    return loss.detach(), grad.detach(), torch.softmax(z.detach(), dim=1)


class _Sums:
    """Running sums per image over the draws: loss, gradient, squared gradient, softmax."""

    def __init__(self, torch: Any, x: Any) -> None:
        self.torch = torch
        self.loss = torch.zeros(len(x), dtype=x.dtype)
        self.grad = torch.zeros_like(x)
        self.square = torch.zeros_like(x)
        self.p: Any = None
        self.count = torch.zeros(len(x), dtype=torch.int64)

    def add(self, rows: Any, loss: Any, grad: Any, p: Any) -> None:
        if self.p is None:
            self.p = self.torch.zeros(len(self.loss), p.shape[1], dtype=p.dtype)
        self.loss[rows] += loss.to(self.loss.dtype)
        self.grad[rows] += grad
        self.square[rows] += grad * grad
        self.p[rows] += p

    def relative_se(self, rows: Any) -> Any:
        """``||sd / sqrt(n)|| / ||mean||`` per image in ``rows`` (0 when every draw agreed)."""
        n = self.count[rows].to(self.grad.dtype).reshape(-1, *([1] * (self.grad.dim() - 1)))
        mean = self.grad[rows] / n
        variance = (self.square[rows] / n - mean * mean).clamp_min(0) * n / (n - 1).clamp_min(1)
        se = (variance / n).flatten(1).sum(1).sqrt()
        norm = mean.flatten(1).pow(2).sum(1).sqrt()
        return self.torch.where(se > 0, se / norm.clamp_min(1e-30), self.torch.zeros_like(se))
