"""Effective parameters: floating-point tensors constant with respect to the input that feed
a weight or bias (REPORT.md).

Walk from every place a constant meets the computation (a non-constant node reading a constant
float tensor) back through the constant sub-graph to the float tensors stored in the file, and
count those once each. A constant built from no stored float tensor at all (ConstantOfShape,
RandomNormal, the weight-free graphs of onnx's light models) counts as itself, so weights built
at run time cannot hide. One-element scalars (eps, scales) and BatchNorm running statistics
(buffers, not parameters, in PyTorch) are not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import onnx

from validator.graph.index import GraphIndex
from validator.graph.shapes import ShapeMap
from validator.tensors import FLOAT_TYPES

# Input positions that hold settings or statistics, not weights.
NOT_WEIGHTS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "BatchNormalization": frozenset({3, 4}),
        "Resize": frozenset({1, 2, 3}),
        "Upsample": frozenset({1}),
        "Pad": frozenset({1, 2, 3}),
        "Clip": frozenset({1, 2}),
        "Dropout": frozenset({1, 2}),
    }
)


@dataclass(frozen=True)
class ParamCount:
    """Total effective parameters and the tensors that make them up (name -> elements)."""

    total: int
    tensors: Mapping[str, int]
    float_types: Mapping[str, int]  # tensor name -> ONNX element type


def count_params(index: GraphIndex, shapes: ShapeMap) -> ParamCount:
    """Effective parameters of the graph behind ``index``."""
    counted: dict[str, int] = {}
    types: dict[str, int] = {}
    for name in _frontier(index):
        for source in _float_sources(index, name, shapes):
            elements = _elements(source, index, shapes)
            if elements is not None and elements > 1:
                counted[source] = elements
                types[source] = _elem_type(source, index, shapes)
    return ParamCount(sum(counted.values()), MappingProxyType(counted), MappingProxyType(types))


def _frontier(index: GraphIndex) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for position in index.order:
        node = index.nodes[position]
        if all(n in index.constant for n in node.output if n) and node.output:
            continue  # a constant node: not where a weight is used
        skip = NOT_WEIGHTS.get(node.op_type, frozenset())
        for i, name in enumerate(node.input):
            if name and name in index.constant and i not in skip and name not in seen:
                seen.add(name)
                out.append(name)
    return out


def _float_sources(index: GraphIndex, name: str, shapes: ShapeMap) -> list[str]:
    """Stored float tensors ``name`` is computed from, or [name] when there are none."""
    if _elem_type(name, index, shapes) not in FLOAT_TYPES:
        return []
    stored: list[str] = []
    stack, seen = [name], {name}
    while stack:
        current = stack.pop()
        position = index.producer.get(current)
        if position is None or index.nodes[position].op_type == "Constant":
            if _elem_type(current, index, shapes) in FLOAT_TYPES:
                stored.append(current)
            continue
        for parent in index.nodes[position].input:
            if parent and parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return [s for s in stored if (_elements(s, index, shapes) or 0) > 1] or [name]


def _elem_type(name: str, index: GraphIndex, shapes: ShapeMap) -> int:
    if name in index.initializers:
        return int(index.initializers[name].data_type)
    shape = shapes.get(name)
    if shape is not None:
        return shape.elem_type
    position = index.producer.get(name)
    if position is not None and index.nodes[position].op_type == "Constant":
        for attr in index.nodes[position].attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                return int(attr.t.data_type)
    return 0


def _elements(name: str, index: GraphIndex, shapes: ShapeMap) -> int | None:
    if name in index.initializers:
        total = 1
        for d in index.initializers[name].dims:
            total *= int(d)
        return total
    shape = shapes.get(name)
    return shape.numel if shape is not None else None
