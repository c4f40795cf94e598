"""onnxruntime sessions on the CPU or a CUDA GPU, and batched execution that respects a fixed
batch size. onnxruntime itself is imported when the first session is built, so that the static
checks never load it."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from validator.errors import UsageError
from validator.vocab import Device

if TYPE_CHECKING:
    import onnxruntime as ort

PROVIDERS = {
    Device.CPU: ["CPUExecutionProvider"],
    # Nodes the CUDA provider cannot run fall back to the CPU inside the same session.
    Device.CUDA: ["CUDAExecutionProvider", "CPUExecutionProvider"],
}
GPU_INSTALL = (
    "install onnxruntime-gpu in place of onnxruntime (pip uninstall onnxruntime; "
    "pip install onnxruntime-gpu: the two cannot be installed together)"
)


class RuntimeFailure(Exception):
    """onnxruntime could not build a session or run a batch; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def default_threads() -> int:
    """Intra-op threads: every core this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def providers_for(device: Device | str) -> list[str]:
    """onnxruntime's execution providers for ``device``, most preferred first; a UsageError
    (exit status 2) when this onnxruntime cannot run on that device at all."""
    import onnxruntime as ort

    device = Device(device)
    wanted = PROVIDERS[device]
    if wanted[0] not in ort.get_available_providers():
        raise UsageError(
            f"--device {device.value}: this onnxruntime ({ort.__version__}) has no "
            f"{wanted[0]}; {GPU_INSTALL}"
        )
    return list(wanted)


class Runner:
    """One inference session over one model file, on the CPU unless ``device`` says CUDA.

    A model whose batch dimension is fixed to 1 is run image by image; any other fixed batch is
    padded up to that size. ``run`` always returns one output row per input image.
    """

    def __init__(
        self, path: Path, threads: int | None = None, device: Device | str = Device.CPU
    ) -> None:
        import onnxruntime as ort

        providers = providers_for(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Nothing on the terminal: the finding carries the error, and onnxruntime's own lines
        # (even at error level) would garble the table and the progress bars.
        options.log_severity_level = 4
        try:
            with warnings.catch_warnings():  # a missing provider is reported below, in one line
                warnings.simplefilter("ignore")
                self.session: ort.InferenceSession = ort.InferenceSession(
                    str(path), options, providers=providers
                )
        except Exception as exc:  # onnxruntime raises its own exception zoo
            _raise_memory(exc)
            raise RuntimeFailure(f"onnxruntime cannot build a session: {_short(exc)}") from None
        # onnxruntime-gpu quietly builds a CPU session when the CUDA library or the GPU is
        # missing; a run asked for on a GPU must not silently happen elsewhere.
        self.provider: str = self.session.get_providers()[0]
        if self.provider != providers[0]:
            raise UsageError(
                f"--device {Device(device).value}: onnxruntime could not use {providers[0]} "
                f"(no usable GPU or CUDA libraries?) and fell back to {self.provider}"
            )
        first = self.session.get_inputs()[0]
        self.input_name: str = first.name
        self.output_names: list[str] = [o.name for o in self.session.get_outputs()]
        dim = first.shape[0] if first.shape else None
        self.fixed_batch: int | None = dim if isinstance(dim, int) and dim > 0 else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """First output for ``batch`` (N x C x H x W float32), one row per image."""
        if self.fixed_batch is None or self.fixed_batch == len(batch):
            return self._run(batch)
        size = self.fixed_batch
        rows = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            pad = size - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            rows.append(self._run(chunk)[: size - pad])
        return np.concatenate(rows)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run(self.output_names[:1], {self.input_name: batch})[0]
        except Exception as exc:
            _raise_memory(exc)
            reason = f"onnxruntime failed on a batch of {len(batch)}: {_short(exc)}"
            raise RuntimeFailure(reason) from None
        return np.asarray(out)


_OUT_OF_MEMORY = ("bad_alloc", "bad allocation", "failed to allocate memory", "out of memory")


def _raise_memory(exc: BaseException) -> None:
    """onnxruntime reports an allocation refused by the memory limit as a plain exception;
    it is a breach of that limit, not a model error."""
    text = str(exc).lower()
    if any(sign in text for sign in _OUT_OF_MEMORY):
        raise MemoryError(_short(exc)) from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
