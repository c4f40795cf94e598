"""A PyTorch submission's module as white-box attacks differentiate it, not a conversion of its
exported graph. Used only inside the confined child that holds the module
(:mod:`.module_server`), which answers the trusted attacking process's forward and backward
requests (:mod:`.remote_module`); that process never imports ``model.py``.

The module is the one the platform built (``Model().float()``), in eval mode, its parameters
frozen (only the input's gradient is needed). As for a graph, a terminal softmax is looked
through: every softmax call made during ``forward`` is recorded (a TorchFunctionMode sees
``F.softmax``, ``nn.Softmax`` and ``Tensor.softmax`` alike) and, when the module returns that
softmax's output unchanged, the attacks differentiate its input. A module returning
probabilities some other way is attacked through their logarithm. A random module is drawn
anew on every call, so the attacks' expectation over runs (EOT) applies to it unchanged.
Adversarial images are still judged by onnxruntime on the exported graph, the one scored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from validator.attacks.whitebox import MODULE


class ModuleGradients:
    """``ModuleGradients(model, torch)(x, _)``: the module's log-scale scores for ``x``."""

    def __init__(self, model: Any, torch: Any) -> None:
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.model, self.torch = model, torch
        self.ends_in_softmax = False
        self.probabilities = False  # set by the server, from how onnxruntime's outputs read
        self._tap = _softmax_tap(torch)

    def __call__(self, x: Any, _logits: str | None = None) -> Any:
        """Scores for the batch ``x`` (float32, the model's channel order), differentiable."""
        self._tap.last = None
        with self._tap:
            out = self.model(x)
        last = self._tap.last
        if last is not None and last[1] is out:
            self.ends_in_softmax = True
            return last[0]
        if self.probabilities:
            return self.torch.log(self.torch.clamp(out, min=1e-30))
        return out

    def raw(self, inputs: Any) -> np.ndarray:
        """The module's own output as float64 (N x classes); notes a terminal softmax."""
        self._tap.last = None
        with self._tap:
            out = self.model(inputs)
        last = self._tap.last
        self.ends_in_softmax = last is not None and last[1] is out
        return np.asarray(out.double().reshape(len(inputs), -1).numpy())


def comparison(
    ours: np.ndarray, reference: np.ndarray, ends_in_softmax: bool
) -> tuple[float, float, str]:
    """How far the module's outputs are from onnxruntime's on the exported graph: the largest
    difference, the share of images with the same top class, and the ``convertible`` note."""
    same = ours.shape == reference.shape
    difference = float(np.max(np.abs(ours - reference))) if same else float("inf")
    agreement = float(np.mean(ours.argmax(1) == reference.argmax(1))) if same else 0.0
    note = (
        f"white-box gradients: {MODULE} (model.py, eval mode), not a conversion; "
        f"{'terminal softmax looked through; ' if ends_in_softmax else ''}"
        f"module vs onnxruntime on the exported graph: max difference {difference:.3g}, "
        f"same top class on {agreement:.0%} of {len(reference)} images"
    )
    return difference, agreement, note


def _softmax_tap(torch: Any) -> Any:
    """A TorchFunctionMode that records the last softmax call's (input, output)."""
    from torch.overrides import TorchFunctionMode

    class SoftmaxTap(TorchFunctionMode):  # type: ignore[misc]
        last: tuple[Any, Any] | None = None

        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            out = func(*args, **(kwargs or {}))
            if getattr(func, "__name__", "") == "softmax" and args:
                self.last = (args[0], out)
            return out

    return SoftmaxTap()
