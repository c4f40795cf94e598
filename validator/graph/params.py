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
from dataclasses import dataclass, field
from types import MappingProxyType

import onnx

from validator.graph.index import GraphIndex
from validator.graph.shapes import ShapeMap
from validator.loading.model import iter_graphs
from validator.loading.tensors import FLOAT_TYPES

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


# Input positions of quantised ops that hold (integer) weight values: counted whatever the
# element type; their scales and zero points are quantisation settings, not parameters.
QUANTISED_WEIGHTS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "DequantizeLinear": frozenset({0}),
        "ConvInteger": frozenset({0, 1}),
        "MatMulInteger": frozenset({0, 1}),
        "QLinearConv": frozenset({0, 3, 8}),
        "QLinearMatMul": frozenset({0, 3}),
        "QGemm": frozenset({0, 3, 6}),
        "DynamicQuantizeMatMul": frozenset({0, 1, 4}),
        "MatMulIntegerToFloat": frozenset({0, 1, 6}),
    }
)
_QUANTISATION_SETTINGS: Mapping[str, frozenset[int]] = MappingProxyType(
    {
        "DequantizeLinear": frozenset({1, 2}),
        "QuantizeLinear": frozenset({1, 2}),
        "ConvInteger": frozenset({2, 3}),
        "MatMulInteger": frozenset({2, 3}),
        "QLinearConv": frozenset({1, 2, 4, 5, 6, 7}),
        "QLinearMatMul": frozenset({1, 2, 4, 5, 6, 7}),
        "QGemm": frozenset({1, 2, 4, 5, 7, 8}),
        "DynamicQuantizeMatMul": frozenset({2, 3}),
        "MatMulIntegerToFloat": frozenset({2, 3, 4, 5}),
    }
)


@dataclass(frozen=True)
class ParamCount:
    """Total effective parameters and the tensors that make them up (name -> elements)."""

    total: int
    tensors: Mapping[str, int]
    float_types: Mapping[str, int]  # tensor name -> ONNX element type
    # tensor name -> position of the first layer (non-constant node) that computes with it
    owners: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def by_layer(self) -> list[tuple[int, int]]:
        """``(layer position, parameters)`` pairs, most parameters first: each counted tensor
        belongs to its first layer, so the counts add up to ``total`` (a tensor no layer
        reads is left out)."""
        layers: dict[int, int] = {}
        for name, elements in self.tensors.items():
            position = self.owners.get(name)
            if position is not None:
                layers[position] = layers.get(position, 0) + elements
        return sorted(layers.items(), key=lambda kv: (-kv[1], kv[0]))


def count_params(index: GraphIndex, shapes: ShapeMap) -> ParamCount:
    """Effective parameters of the graph behind ``index``."""
    counted: dict[str, int] = {}
    types: dict[str, int] = {}
    owners: dict[str, int] = {}
    found = [
        (source, position)
        for name, position in _frontier(index)
        for source in _float_sources(index, name, shapes)
    ]
    for name, position in found + _quantised_weights(index):
        elements = _elements(name, index, shapes)
        if elements is not None and elements > 1:
            counted[name] = elements
            types[name] = _elem_type(name, index, shapes)
            owners.setdefault(name, position)
    return ParamCount(
        sum(counted.values()),
        MappingProxyType(counted),
        MappingProxyType(types),
        MappingProxyType(owners),
    )


def _quantised_weights(index: GraphIndex) -> list[tuple[str, int]]:
    """Integer constants stored as the weights of quantised ops (int8 weights of a dynamically
    quantised model, the input of a DequantizeLinear): parameters in any element type; each
    with the position of the op that reads it."""
    found: dict[str, int] = {}
    for position in index.order:
        positions = QUANTISED_WEIGHTS.get(index.ops[position])
        if not positions:
            continue
        for i, name in enumerate(index.node_inputs[position]):
            if i in positions and name in index.constant and not _is_float(name, index):
                found.setdefault(name, position)
    return list(found.items())


def _is_float(name: str, index: GraphIndex) -> bool:
    tensor = index.initializers.get(name)
    return tensor is not None and tensor.data_type in FLOAT_TYPES


def _frontier(index: GraphIndex) -> list[tuple[str, int]]:
    """Constant tensors where they meet the computation, each with the first (non-constant)
    node that reads it."""
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    constant = index.constant
    for position in index.order:
        op, outputs = index.ops[position], index.node_outputs[position]
        if outputs and all(n in constant for n in outputs if n):
            continue  # a constant node: not where a weight is used
        skip = NOT_WEIGHTS.get(op, _QUANTISATION_SETTINGS.get(op, frozenset()))
        for i, name in enumerate(index.node_inputs[position]):
            if name and name in constant and i not in skip and name not in seen:
                seen.add(name)
                out.append((name, position))
        node = index.nodes[position]
        if not len(node.attribute):
            continue  # no attribute, so no subgraph to look into
        for name in _subgraph_weights(node, index):
            if name not in seen:
                seen.add(name)
                out.append((name, position))
    return out


def _subgraph_weights(node: onnx.NodeProto, index: GraphIndex) -> list[str]:
    """Constants a Loop/If/Scan body feeds its nodes: the enclosing graph's, read from the
    body by name, and the body's own initializers (a body's weights are parameters too)."""
    found: list[str] = []
    for attr in node.attribute:
        if attr.type != onnx.AttributeProto.GRAPH:
            continue
        for graph, _ in iter_graphs(attr.g):
            local = {t.name for t in graph.initializer}
            for inner in graph.node:
                skip = NOT_WEIGHTS.get(inner.op_type, frozenset())
                found += [
                    n
                    for i, n in enumerate(inner.input)
                    if n and i not in skip and (n in index.constant or n in local)
                ]
    return found


def _float_sources(index: GraphIndex, name: str, shapes: ShapeMap) -> list[str]:
    """Stored float tensors ``name`` is computed from (and the integer weights of the
    DequantizeLinear nodes on the way, not their scales), or [name] when there are none."""
    if _elem_type(name, index, shapes) not in FLOAT_TYPES:
        return []
    stored: list[str] = []
    stack, seen, quantised = [name], {name}, set()
    while stack:
        current = stack.pop()
        position = index.producer.get(current)
        if position is None or index.nodes[position].op_type == "Constant":
            if current in quantised or _elem_type(current, index, shapes) in FLOAT_TYPES:
                stored.append(current)
            continue
        op = index.ops[position]
        settings = _QUANTISATION_SETTINGS.get(op, frozenset())
        for i, parent in enumerate(index.nodes[position].input):
            if parent and parent not in seen and i not in settings:
                seen.add(parent)
                stack.append(parent)
                if i in QUANTISED_WEIGHTS.get(op, frozenset()):
                    quantised.add(parent)
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
