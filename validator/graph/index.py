"""An index over one ONNX graph: producers, consumers, topological order, constant tensors.

Built once in linear time and shared by the counting, parameter and ensemble analyses, so that a
200,000-node graph costs a few dict operations per node rather than repeated scans.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import onnx

# Operators that produce a value without any graph input: their outputs are constants.
_SOURCE_OPS = frozenset({"Constant", "RandomNormal", "RandomUniform", "EyeLike", "ConstantOfShape"})
_SUBGRAPH_OPS = frozenset({"If", "Loop", "Scan"})


@dataclass
class GraphIndex:
    """Lookup tables over ``graph``; node positions refer to ``graph.node``."""

    graph: onnx.GraphProto
    nodes: list[onnx.NodeProto] = field(default_factory=list)  # protobuf indexing is slow
    producer: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, list[int]] = field(default_factory=dict)
    initializers: dict[str, onnx.TensorProto] = field(default_factory=dict)
    inputs: list[onnx.ValueInfoProto] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    cyclic: list[int] = field(default_factory=list)
    constant: set[str] = field(default_factory=set)

    def node_name(self, position: int) -> str:
        """A readable name for the node at ``position`` (its name, else op type and index)."""
        node = self.nodes[position]
        return node.name or f"{node.op_type}#{position}"


def build_index(graph: onnx.GraphProto) -> GraphIndex:
    """Index ``graph`` in O(nodes + edges)."""
    index = GraphIndex(graph, list(graph.node))
    index.initializers = {t.name: t for t in graph.initializer}
    index.inputs = [v for v in graph.input if v.name not in index.initializers]
    for position, node in enumerate(graph.node):
        for name in node.output:
            if name:
                index.producer[name] = position
        for name in node.input:
            if name:
                index.consumers.setdefault(name, []).append(position)
    index.order, index.cyclic = _topological_order(graph, index.producer)
    index.constant = _constant_tensors(graph, index)
    return index


def _topological_order(
    graph: onnx.GraphProto, producer: dict[str, int]
) -> tuple[list[int], list[int]]:
    """Kahn's algorithm; returns (order, positions left over because they sit on a cycle)."""
    waiting = [0] * len(graph.node)
    dependants: dict[int, list[int]] = {}
    for position, node in enumerate(graph.node):
        parents = {producer[n] for n in node.input if n in producer}
        waiting[position] = len(parents)
        for parent in parents:
            dependants.setdefault(parent, []).append(position)
    ready = deque(p for p, count in enumerate(waiting) if count == 0)
    order: list[int] = []
    while ready:
        position = ready.popleft()
        order.append(position)
        for child in dependants.get(position, ()):
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    done = set(order)
    return order, [p for p in range(len(graph.node)) if p not in done]


def _constant_tensors(graph: onnx.GraphProto, index: GraphIndex) -> set[str]:
    constant = set(index.initializers)
    for position in index.order:
        node = index.nodes[position]
        if node.op_type in _SUBGRAPH_OPS:
            continue
        inputs = [n for n in node.input if n]
        if (inputs or node.op_type in _SOURCE_OPS) and all(n in constant for n in inputs):
            constant.update(n for n in node.output if n)
    return constant
