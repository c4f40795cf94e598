"""onnxruntime sessions on the CPU, and batched execution that respects a fixed batch size."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort


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


class Runner:
    """One CPU inference session over one model file.

    A model whose batch dimension is fixed to 1 is run image by image; any other fixed batch is
    padded up to that size. ``run`` always returns one output row per input image.
    """

    def __init__(self, path: Path, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Nothing on the terminal: the finding carries the error, and onnxruntime's own lines
        # (even at error level) would garble the table and the progress bars.
        options.log_severity_level = 4
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception zoo
            _raise_memory(exc)
            raise RuntimeFailure(f"onnxruntime cannot build a session: {_short(exc)}") from None
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
