"""The confined child that holds a PyTorch submission's module for the main command's on-the-fly
white-box attacks: it imports ``model.py`` as the platform did and answers forward and backward
requests, nothing else (the parent side is :mod:`validator.submission.remote_module`).

Requests arrive as JSON on a pipe from the trusted scoring process; answers go back on the
child's channel. Arrays travel as base64 of float32 bytes with their shape: JSON, never pickle,
both ways. The scoring process keeps everything else (onnxruntime, the verdicts, the counts), so
code in ``model.py`` can shape only the gradients it is asked for, never a score.
"""

from __future__ import annotations

import base64
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from validator.sandbox import PhaseClock, Sender
from validator.sandbox.channel import ChannelClosed, Receiver
from validator.submission.module_gradients import ModuleGradients
from validator.submission.module_job import import_model
from validator.vocab import Phase

KEPT_GRAPHS = 4  # forward graphs kept for a backward (the attacks ask for one at a time)


def encode(array: np.ndarray) -> dict[str, Any]:
    """``array`` as JSON-safe fields (float32 bytes, base64, and the shape)."""
    data = np.ascontiguousarray(array, dtype=np.float32)
    return {"shape": list(data.shape), "data": base64.b64encode(data.tobytes()).decode("ascii")}


def decode(fields: dict[str, Any], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The float32 array of :func:`encode`'s fields; ValueError unless it is well formed (and,
    with ``shape``, of that shape)."""
    got = tuple(int(n) for n in fields.get("shape") or ())
    if shape is not None and got != shape:
        raise ValueError(f"an array of shape {got}, expected {shape}")
    raw = base64.b64decode(str(fields.get("data", "")), validate=True)
    if len(raw) != 4 * int(np.prod(got, dtype=np.int64)):
        raise ValueError(f"{len(raw)} bytes do not hold a float32 array of shape {got}")
    return np.frombuffer(raw, dtype=np.float32).reshape(got)


def serve(sender: Sender, requests: int, folder: Path, threads: int) -> None:
    """The child's whole job: import the module, then answer requests until the pipe closes."""
    torch = sys.modules["torch"]  # preloaded before confinement
    torch.set_num_threads(threads)
    PhaseClock(sender).enter(Phase.ANALYSIS)
    model = import_model(sender, folder)
    if model is None:
        return
    server = _Server(ModuleGradients(model, torch), torch)
    receiver = Receiver(requests)
    while True:
        try:
            request = receiver.receive(float("inf"))
        except ChannelClosed:
            return
        if request is not None:
            sender.send("answer", **server.answer(request))


class _Server:
    def __init__(self, gradients: ModuleGradients, torch: Any) -> None:
        self.gradients, self.torch = gradients, torch
        self.graphs: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request["kind"]
        if kind == "raw":
            return self._raw(request)
        if kind == "forward":
            return self._forward(request)
        return self._backward(request)

    def _raw(self, request: dict[str, Any]) -> dict[str, Any]:
        """The module's own outputs averaged over ``runs`` calls (no gradient)."""
        self.gradients.probabilities = bool(request.get("probabilities"))
        inputs = self.torch.from_numpy(decode(request["x"]).copy())
        with self.torch.no_grad():
            runs = [self.gradients.raw(inputs) for _ in range(max(int(request["runs"]), 1))]
        softmax = self.gradients.ends_in_softmax
        return {"y": encode(np.mean(runs, axis=0)), "softmax": softmax}

    def _forward(self, request: dict[str, Any]) -> dict[str, Any]:
        x = self.torch.from_numpy(decode(request["x"]).copy())
        keep = bool(request.get("grad"))
        x.requires_grad_(keep)
        with self.torch.set_grad_enabled(keep):
            out = self.gradients(x)
        if keep:
            self.graphs[int(request["id"])] = (x, out)
            while len(self.graphs) > KEPT_GRAPHS:
                self.graphs.popitem(last=False)
        return {"y": encode(out.detach().reshape(len(x), -1).numpy())}

    def _backward(self, request: dict[str, Any]) -> dict[str, Any]:
        graph = self.graphs.pop(int(request["id"]), None)
        if graph is None:
            return {"error": "no forward graph kept for this backward"}
        x, out = graph
        upstream = self.torch.from_numpy(decode(request["g"]).copy()).reshape(out.shape)
        (grad,) = self.torch.autograd.grad(out, x, upstream.to(out.dtype), allow_unused=True)
        return {"y": encode(np.zeros(x.shape) if grad is None else grad.numpy())}
