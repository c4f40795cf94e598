"""White-box gradients of a PyTorch submission's module for every attack on a zip (the main
command's on-the-fly ``--attack SUITE``, ``robust-validate attack`` and its ``--for detection``),
with the module kept out of the attacking and scoring process.

:class:`RemoteGradients` goes in ``QueryModel.cache["module"]``; the module lives in a confined
child (:mod:`.module_server`, the same confinement as the rest of the zip route), started on the
first white-box set: each call of the attacks' loss sends the batch there, and autograd's
backward sends the upstream gradient and gets the input's gradient back (a
``torch.autograd.Function``). onnxruntime, the verdicts and every count stay in the trusted
scoring process. A child that fails, breaks a limit or answers out of shape makes the white-box
sets skipped, with the reason, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from validator.attacks.model_fn import OutputKind, QueryModel, to_input
from validator.attacks.whitebox import MODULE, Conversion, Unavailable, load_torch
from validator.config import Profile
from validator.sandbox import Confinement, Limits, Sender
from validator.sandbox.channel import ChannelClosed, ProtocolError
from validator.sandbox.process import Child
from validator.vocab import Phase

SOURCE = MODULE  # what the report names as the gradient source
PRELOAD = (
    "torch", "onnx", "validator.submission.module_job", "validator.submission.module_gradients",
    "validator.submission.module_server",
)  # fmt: skip
MAX_CLASSES = 100_000  # an output row wider than this is not a classifier's


class RemoteGradients:
    """``RemoteGradients(folder, profile, threads)(x, _)``: the module's log-scale scores for
    ``x`` (a float32 torch tensor), differentiable through the confined child, which runs under
    the profile's limits (importing: ``limit_analysis_s``; each answer: ``limit_attack_s``)."""

    def __init__(self, folder: Path, profile: Profile, threads: int | None = None) -> None:
        self.folder, self.limits = folder, Limits.from_profile(profile, threads)
        self.ends_in_softmax = False
        self.measures: list[str] = []  # the child's confinement, as the report lists it
        self._child: Child | None = None
        self._requests: Sender | None = None
        self._failed: Unavailable | None = None
        self._next = 0
        self._function: Any = None

    def convert(self, model: QueryModel, sample: np.ndarray) -> Conversion:
        """The Conversion the white-box attacks use, compared with onnxruntime on ``sample``."""
        from validator.submission.module_gradients import comparison

        torch = load_torch()
        self._start(torch)
        reference = model.raw(sample)
        runs = model.draws if model.random else 1
        x = to_input(sample, model.order).astype(np.float32)
        answer = self._ask("raw", x=_encode(x), runs=runs,
                           probabilities=model.kind is OutputKind.PROBABILITIES)  # fmt: skip
        self.ends_in_softmax = bool(answer.get("softmax"))
        ours = self._array(answer, len(x)).astype(np.float64)
        note = comparison(ours, reference, self.ends_in_softmax)
        return Conversion(self, "module", note[0], note[1], MODULE, note[2] + _WHERE)

    def __call__(self, x: Any, _logits: str | None = None) -> Any:
        """Scores for the batch ``x``; autograd reaches the module through the child."""
        return self._function.apply(x)

    def close(self) -> None:
        """End the child (closing its request pipe ends its loop; a kill makes sure)."""
        if self._child is None:
            return
        if self._requests is not None:
            with contextlib.suppress(OSError):
                os.close(self._requests._fd)
        self._child.kill()
        self._child.wait()
        self._child = None

    def forward(self, x: np.ndarray, grad: bool) -> tuple[int, np.ndarray]:
        """Send one batch; its request id (for the backward) and the module's scores."""
        self._next += 1
        answer = self._ask("forward", id=self._next, grad=grad, x=_encode(x))
        return self._next, self._array(answer, len(x))

    def backward(self, handle: int, upstream: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The input's gradient for the forward ``handle`` given the output's ``upstream``."""
        answer = self._ask("backward", id=handle, g=_encode(upstream))
        return _decode(answer["y"], shape)

    def _start(self, torch: Any) -> None:
        if self._failed is not None:
            raise self._failed
        if self._child is not None:
            return
        from validator.submission.module_server import serve

        read_fd, write_fd = os.pipe()
        threads = self.limits.threads

        def body(sender: Sender) -> None:
            os.close(write_fd)
            serve(sender, read_fd, self.folder, threads)

        confinement = Confinement(self.folder, preload=PRELOAD)
        self._child = Child(body, self.limits.memory_bytes, confinement)
        os.close(read_fd)
        self._requests = Sender(write_fd)
        self._function = _autograd_function(torch, self)
        imported = self._receive("import", self.limits.seconds[Phase.ANALYSIS])
        if not imported.get("ok"):
            self._fail(str(imported.get("reason") or "importing model.py failed"))

    def _ask(self, kind: str, **payload: Any) -> dict[str, Any]:
        if self._failed is not None:
            raise self._failed
        assert self._requests is not None
        try:
            self._requests.send(kind, **payload)
        except OSError as exc:
            self._fail(f"the module's process is gone ({exc.strerror or exc})")
        answer = self._receive("answer", self.limits.seconds[Phase.ATTACK])
        if "error" in answer:
            self._fail(str(answer["error"]))
        return answer

    def _receive(self, kind: str, seconds: float) -> dict[str, Any]:
        """The child's next message of ``kind`` (others, such as ``confined``, are passed)."""
        assert self._child is not None
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = self._child.channel.receive(deadline)
            except ChannelClosed:
                self._fail(f"the module's process ended ({self._child.wait().describe})")
            except ProtocolError as exc:
                self._fail(f"the module's process sent a bad message ({exc})")
            if message is None:
                self._fail(f"the module did not answer within {seconds:g} s")
            if message["kind"] == kind:
                return message
            if message["kind"] == "confined":
                self.measures = [str(m) for m in message.get("measures") or []]
            if message["kind"] == "failure":
                self._fail(str(message.get("reason", ""))[:400])

    def _array(self, answer: dict[str, Any], rows: int) -> np.ndarray:
        try:
            shape = tuple(int(n) for n in answer["y"]["shape"])
            if len(shape) != 2 or shape[0] != rows or not 0 < shape[1] <= MAX_CLASSES:
                raise ValueError(f"scores of shape {shape} for {rows} images")
            return _decode(answer["y"], shape)
        except (KeyError, TypeError, ValueError) as exc:
            self._fail(f"the module's process answered out of shape ({exc})")

    def _fail(self, reason: str) -> NoReturn:
        self._failed = Unavailable(f"the submitted module: {reason}"[:400], convertible=False)
        self.close()
        raise self._failed


_WHERE = "; run in a confined child, apart from the scoring process"


def _encode(array: np.ndarray) -> dict[str, Any]:
    from validator.submission.module_server import encode

    return encode(array)


def _decode(fields: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    from validator.submission.module_server import decode

    return decode(fields, shape)


def _autograd_function(torch: Any, remote: RemoteGradients) -> Any:
    """A torch.autograd.Function whose forward and backward are the child's."""

    class Remote(torch.autograd.Function):  # type: ignore[misc,name-defined]
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            batch = x.detach().float().numpy()
            handle, scores = remote.forward(batch, grad=ctx.needs_input_grad[0])
            ctx.handle, ctx.shape = handle, batch.shape
            return torch.from_numpy(scores.copy()).to(x.dtype)

        @staticmethod
        def backward(ctx: Any, upstream: Any) -> Any:
            grad = remote.backward(ctx.handle, upstream.detach().float().numpy(), ctx.shape)
            return torch.from_numpy(grad.copy()).to(upstream.dtype)

    return Remote
