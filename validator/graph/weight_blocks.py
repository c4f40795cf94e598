"""Channel blocks kept apart by the weights alone.

Two networks can be packed into one dense layer: a convolution or linear layer whose weight is
block-diagonal, every entry between one member's inputs and another member's outputs exactly
zero. No graph structure shows it; the stored values do. Here a weight is read as a boolean
"output channel reads input channel" mask, and a set of output channel blocks is kept apart
when each block reads a contiguous input range of its own, in order. Weight-free files (no
stored values, or all-zero fillers) never show blocks: every block must read something.
"""

from __future__ import annotations

import itertools

import numpy as np

from validator.graph.dataflow import DataFlow, attribute, constant_array

MAX_WEIGHT_ELEMENTS = 16_000_000  # larger weights are not read (bounded memory and time)
MAX_BLOCKS = 16  # more blocks than this is a sparse layer, not packed networks
MIN_BLOCK = 2  # output channels per block


def weight_mask(flow: DataFlow, position: int) -> np.ndarray | None:
    """An (outputs x inputs) boolean mask of the non-zero weights of a dense Conv, Gemm or
    MatMul with a stored weight; None when there is no such weight to read."""
    node = flow.node(position)
    op = node.op_type
    if len(node.input) < 2 or node.input[0] not in flow.data or node.input[1] in flow.data:
        return None
    if op == "Conv" and int(attribute(node, "group", 1)) != 1:  # type: ignore[call-overload]
        return None
    if op not in ("Conv", "Gemm", "MatMul"):
        return None
    weight = constant_array(flow.index, node.input[1], MAX_WEIGHT_ELEMENTS)
    if weight is None or weight.ndim < 2:
        return None
    if op == "Conv":
        return np.asarray(np.any(weight.reshape(weight.shape[0], weight.shape[1], -1), axis=2))
    if weight.ndim != 2 or int(attribute(node, "transA", 0)):  # type: ignore[call-overload]
        return None
    transposed = op == "Gemm" and int(attribute(node, "transB", 0))  # type: ignore[call-overload]
    return np.asarray(weight != 0) if transposed else np.asarray(weight.T != 0)


def input_cuts(mask: np.ndarray, out_cuts: set[int]) -> set[int] | None:
    """The input channel cuts under which the output blocks split at ``out_cuts`` read
    disjoint, ordered input ranges; None when some block reads another's inputs (or nothing)."""
    rows = mask.shape[0]
    edges = sorted({0, rows, *(c for c in out_cuts if 0 < c < rows)})
    ranges: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(edges):
        columns = np.flatnonzero(mask[a:b].any(axis=0))
        if columns.size == 0:
            return None
        ranges.append((int(columns[0]), int(columns[-1])))
    if any(prev[1] >= nxt[0] for prev, nxt in itertools.pairwise(ranges)):
        return None
    return {start for start, _ in ranges[1:]}


def block_cuts(mask: np.ndarray) -> set[int] | None:
    """Output channel cuts splitting the layer into 2..16 blocks that read disjoint input
    ranges, or None when the weights show no such blocks."""
    rows = mask.shape[0]
    if rows < 2 * MIN_BLOCK or not mask.any():
        return None
    # Each row's first and last input read, for all rows at once (a flatnonzero per row was
    # most of the ensemble check on a ResNet-50).
    alive = np.asarray(mask.any(axis=1)).tolist()
    firsts = np.argmax(mask, axis=1).tolist()
    lasts = (mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)).tolist()
    cuts: set[int] = set()
    reach, start = -1, 0
    for row, (live, first, last) in enumerate(zip(alive, firsts, lasts, strict=True)):
        if not live:
            continue  # a dead channel belongs to whichever block it sits in
        if reach >= 0 and first > reach and row - start >= MIN_BLOCK:
            cuts.add(row)
            start = row
        reach = max(reach, last)
    if not cuts or len(cuts) + 1 > MAX_BLOCKS or rows - start < MIN_BLOCK:
        return None
    return cuts if input_cuts(mask, cuts) is not None else None
