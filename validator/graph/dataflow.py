"""The data-flow view of one graph output: the nodes whose values depend on the input image.

Weights, constants and shape arithmetic (``Shape``, ``Size`` and whatever is computed from them
and constants alone) are left out: they carry no image data, and keeping them would make two
networks that both read ``Shape(input)`` look connected. What is left is the DAG the ensemble
analysis reasons about, in topological order, with each node's multiply-adds under one
convention. Everything is built in O(nodes + edges).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from validator.graph.analysis import GraphAnalysis
from validator.graph.folding import EVALUATORS
from validator.graph.index import GraphIndex
from validator.graph.shapes import ShapeMap, TensorShape
from validator.vocab import MacsConvention

_SHAPE_OPS = frozenset({"Shape", "Size"})
WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum"})


@dataclass
class Tables:
    """Plain-Python copies of what the analysis reads per node (protobuf field access is slow
    at 200,000 nodes), and the set of tensors that carry image data. Built once per graph."""

    analysis: GraphAnalysis
    ops: list[str]
    inputs: list[tuple[str, ...]]
    outputs: list[tuple[str, ...]]
    data: set[str]


def build_tables(analysis: GraphAnalysis) -> Tables:
    """The index's plain copies of op types and tensor names, and the data-carrying tensors."""
    index = analysis.index
    ops, inputs, outputs = index.ops, index.node_inputs, index.node_outputs
    data = {v.name for v in index.inputs}
    for position in analysis.index.order:
        if ops[position] in _SHAPE_OPS:
            continue  # a shape is metadata: it carries no pixel values
        if any(n in data for n in inputs[position]):
            data.update(n for n in outputs[position] if n)
    return Tables(analysis, ops, inputs, outputs, data)


@dataclass
class DataFlow:
    """The data nodes on paths from the graph inputs to ``output`` (positions in ``graph.node``).

    ``macs`` holds each node's multiply-adds under one convention, counted (by macs.py) for the
    matrix ops only, which carry the work that tells networks apart; a graph without any falls
    back to counting every node under the ``full`` convention.
    """

    tables: Tables
    output: str
    order: list[int] = field(default_factory=list)
    rank: dict[int, int] = field(default_factory=dict)
    parents: dict[int, list[int]] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=dict)
    macs: dict[int, int] = field(default_factory=dict)
    weighted_nodes: set[int] = field(default_factory=set)
    total: int = 0

    @property
    def analysis(self) -> GraphAnalysis:
        """The graph analysis this view is built on."""
        return self.tables.analysis

    @property
    def index(self) -> GraphIndex:
        """The analysed graph's index."""
        return self.tables.analysis.index

    @property
    def data(self) -> set[str]:
        """Tensors that carry image data."""
        return self.tables.data

    def node(self, position: int) -> onnx.NodeProto:
        """The node at ``position``."""
        node: onnx.NodeProto = self.index.nodes[position]
        return node

    def op(self, position: int) -> str:
        """The op type of the node at ``position``."""
        return self.tables.ops[position]

    def inputs(self, position: int) -> tuple[str, ...]:
        """Input tensor names of the node at ``position``."""
        return self.tables.inputs[position]

    def outputs(self, position: int) -> tuple[str, ...]:
        """Output tensor names of the node at ``position``."""
        return self.tables.outputs[position]

    def name(self, position: int) -> str:
        """A readable node name (its name, else op type and position)."""
        return self.index.node_name(position)

    def dims(self, tensor: str) -> tuple[int, ...] | None:
        """Dims of ``tensor`` at batch 1, or None when any is unknown."""
        shape = self.analysis.shapes.get(tensor)
        if shape is None or not shape.known:
            return None
        return tuple(int(d or 0) for d in shape.dims or ())

    def numel(self, tensor: str) -> int | None:
        """Elements of ``tensor`` per image: the product of its dims after the first (the
        batch, which inference sometimes loses), or its length when it is 1-D; None if unknown."""
        shape = self.analysis.shapes.get(tensor)
        return None if shape is None else _per_image(shape)

    def data_inputs(self, position: int) -> list[str]:
        """The node's input tensors that carry image data."""
        return [n for n in self.tables.inputs[position] if n in self.tables.data]

    def value(self, tensor: str) -> np.ndarray | None:
        """The value of a small constant or shape-derived tensor, or None."""
        return small_value(self.index, self.analysis.shapes, tensor) if tensor else None

    def weighted(self, position: int) -> bool:
        """True for a matrix op (Conv, Gemm, MatMul...) with a constant weight operand."""
        return position in self.weighted_nodes


@functools.lru_cache(maxsize=4096)  # few distinct shapes, asked for at every node
def _per_image(shape: TensorShape) -> int | None:
    if shape.dims is None:
        return None
    dims = shape.dims[1:] if len(shape.dims) > 1 else shape.dims
    if any(d is None for d in dims):
        return None
    return math.prod(int(d or 0) for d in dims)


def build_dataflow(tables: Tables, output: str, convention: MacsConvention) -> DataFlow:
    """The data-flow DAG feeding ``output``, with per-node multiply-adds under ``convention``."""
    flow = DataFlow(tables, output)
    producer, data = tables.analysis.index.producer, tables.data
    relevant = _ancestors(tables, output)
    flow.order = [p for p in tables.analysis.index.order if p in relevant]
    flow.rank = {p: i for i, p in enumerate(flow.order)}
    inputs, ops, children = tables.inputs, tables.ops, flow.children
    for position in flow.order:
        names = inputs[position]
        if len(names) == 1:  # most nodes: one input, no set or sort needed
            parent = producer.get(names[0]) if names[0] in data else None
            parents = [parent] if parent is not None and parent in relevant else []
        else:
            found = {producer[n] for n in names if n in data and n in producer}
            parents = sorted(p for p in found if p in relevant)
        flow.parents[position] = parents
        children.setdefault(position, [])
        for parent in parents:
            children.setdefault(parent, []).append(position)
        if ops[position] in WEIGHTED_OPS and any(n and n not in data for n in names[:2]):
            flow.weighted_nodes.add(position)
    _count_macs(flow, convention, every_node=False)
    if flow.total == 0 and convention is not MacsConvention.FULL:
        _count_macs(flow, MacsConvention.FULL, every_node=True)
    return flow


def _count_macs(flow: DataFlow, convention: MacsConvention, every_node: bool) -> None:
    """Each node's multiply-adds under ``convention``: the counts the analysis already made
    (count_node of the same node and shapes; absent: not countable, 0), matrix ops only
    unless ``every_node`` or the convention is ``full``."""
    by_node, ops = flow.tables.analysis.macs.by_node, flow.tables.ops
    every_node = every_node or convention is MacsConvention.FULL
    for position in flow.order:
        counts = by_node.get(position)
        counted = counts is not None and (every_node or ops[position] in WEIGHTED_OPS)
        flow.macs[position] = counts[convention] if counted else 0  # type: ignore[index]
    flow.total = sum(flow.macs.values())


def _ancestors(tables: Tables, output: str) -> set[int]:
    producer, data, inputs = tables.analysis.index.producer, tables.data, tables.inputs
    seen: set[int] = set()
    stack = [producer[output]] if output in data and output in producer else []
    while stack:
        position = stack.pop()
        if position in seen:
            continue
        seen.add(position)
        stack.extend([producer[n] for n in inputs[position] if n in data and n in producer])
    return seen


_SMALL = 64  # elements: Slice bounds and shape vectors are tiny; anything bigger is not one


def constant_array(index: GraphIndex, name: str, limit: int = _SMALL) -> np.ndarray | None:
    """The value of a constant (initializer or Constant node) of at most ``limit`` elements,
    or None."""
    tensor = index.initializers.get(name)
    if tensor is None and name in index.producer:
        node = index.nodes[index.producer[name]]
        if node.op_type == "Constant":
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
    if tensor is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    if math.prod(tensor.dims) > limit:
        return None
    try:
        return np.asarray(numpy_helper.to_array(tensor))
    except Exception:  # a malformed tensor is simply not a usable constant
        return None


def small_value(
    index: GraphIndex, shapes: ShapeMap, name: str, depth: int = 12
) -> np.ndarray | None:
    """The value of a small tensor computed from constants and shapes alone (Slice bounds built
    as ``Shape -> Gather -> Div -> Mul`` by exporters), or None. Inputs of more than a few dozen
    elements are refused, so a hostile graph cannot make an evaluation broadcast to gigabytes."""
    value = constant_array(index, name)
    if value is not None or depth == 0 or name not in index.producer:
        return value
    node = index.nodes[index.producer[name]]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Shape":
        shape = shapes.get(node.input[0])
        if shape is None or not shape.known:
            return None
        dims = np.array(shape.dims, dtype=np.int64)
        return dims[attrs.get("start", 0) : attrs.get("end", len(dims))]
    evaluate = EVALUATORS.get(node.op_type)
    if evaluate is None or node.output[0] != name:
        return None
    inputs = [small_value(index, shapes, n, depth - 1) if n else None for n in node.input]
    if any(v is None for v, n in zip(inputs, node.input, strict=True) if n):
        return None
    if any(v is not None and v.size > _SMALL for v in inputs):
        return None
    try:
        return evaluate(inputs, attrs)
    except Exception:  # an op outside what the folder handles is simply unresolved
        return None


def attribute(node: onnx.NodeProto, name: str, default: object = None) -> object:
    """The value of attribute ``name`` of ``node``, or ``default``."""
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default
