"""Where the multiply-adds and parameters sit: by operator type and by top-level block.

A block is the first component of a node's scope as exporters write it (``/layer1/0/conv1/Conv``
is in ``layer1``); nodes without a scope are in ``(top level)``. A parameter tensor belongs to
the op type and block of the first node that consumes it.
"""

from __future__ import annotations

from typing import Any

from validator.graph.analysis import GraphAnalysis
from validator.vocab import MacsConvention

TOP_LEVEL = "(top level)"


def block_of(node_name: str) -> str:
    """The top-level block of a node name (``/layer1/0/conv1/Conv`` -> ``layer1``)."""
    parts = [p for p in node_name.split("/") if p]
    if node_name.startswith("/") and len(parts) >= 2:
        return parts[0]
    return TOP_LEVEL


def breakdown(analysis: GraphAnalysis, convention: MacsConvention) -> dict[str, Any]:
    """``{"macs_by_op", "macs_by_block", "params_by_op", "params_by_block"}`` (largest first)."""
    index = analysis.index
    macs_by_block: dict[str, int] = {}
    for position in index.order:
        counts = analysis.macs.by_node.get(position)
        if counts:
            block = block_of(index.nodes[position].name)
            macs_by_block[block] = macs_by_block.get(block, 0) + counts[convention]
    params_by_op: dict[str, int] = {}
    params_by_block: dict[str, int] = {}
    for tensor, count in analysis.params.tensors.items():
        op, block = consumer_of(analysis, tensor)
        params_by_op[op] = params_by_op.get(op, 0) + count
        params_by_block[block] = params_by_block.get(block, 0) + count
    return {
        "convention": convention.value,
        "macs_by_op": _ranked({op: c[convention] for op, c in analysis.macs.by_op.items()}),
        "macs_by_block": _ranked(macs_by_block),
        "params_by_op": _ranked(params_by_op),
        "params_by_block": _ranked(params_by_block),
    }


def consumer_of(analysis: GraphAnalysis, tensor: str) -> tuple[str, str]:
    """(op type, block) of the first node reading ``tensor``."""
    index = analysis.index
    readers = index.consumers.get(tensor, [])
    if not readers:
        return "(unused)", TOP_LEVEL
    node = index.nodes[readers[0]]
    return node.op_type, block_of(node.name)


def _ranked(values: dict[str, int]) -> dict[str, int]:
    return dict(sorted(((k, v) for k, v in values.items() if v), key=lambda kv: -kv[1]))
