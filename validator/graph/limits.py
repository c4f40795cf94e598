"""Caps on what the static analysis will compute, and the error that says one was hit.

The analysis reads shapes as numbers and folds only shape-sized tensors, so a model cannot make
it allocate what its graph declares. Two things are still refused outright, as an error finding
rather than a wrong figure: shape arithmetic whose exact result does not fit in int64 (numpy
would wrap it around silently, and onnxruntime could not run it), and a tensor with more
elements than int64 can count.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MAX_FOLD_ELEMENTS = 4096  # fold only shape-sized tensors; weights never pass through here
INT64_MAX = 2**63 - 1


class AnalysisLimit(Exception):
    """The model asks the analysis for something it refuses; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Int64Overflow(ArithmeticError):
    """Exact integer arithmetic left the range of the result's type."""


def exact_integers(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``result`` (an object array of Python ints) as ``dtype``; Int64Overflow (whatever the
    integer width) if any value does not fit."""
    info = np.iinfo(dtype)
    values = [int(v) for v in np.asarray(result, dtype=object).reshape(-1)]
    if values and (min(values) < info.min or max(values) > info.max):
        bad = next(v for v in values if v < info.min or v > info.max)
        raise Int64Overflow(f"{bad} does not fit in {np.dtype(dtype).name}")
    return np.asarray(result, dtype=object).astype(dtype)


def element_count(dims: Iterable[int | None]) -> int:
    """Exact product of ``dims`` (Python ints never wrap; None counts as 0)."""
    total = 1
    for d in dims:
        total *= int(d or 0)
    return total
