"""An index over one ONNX graph: producers, consumers, topological order, constant tensors.

Built once in linear time and shared by the counting, parameter and ensemble analyses, so that a
200,000-node graph costs a few dict operations per node rather than repeated scans.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import onnx

# Operators that produce a value without any graph input: their outputs are constants.
_SOURCE_OPS = frozenset({"Constant", "RandomNormal", "RandomUniform", "EyeLike", "ConstantOfShape"})
_SUBGRAPH_OPS = frozenset({"If", "Loop", "Scan"})
_WALK_LIMIT = 10_000  # nodes one layers_using() call may visit


@dataclass
class GraphIndex:
    """Lookup tables over ``graph``; node positions refer to ``graph.node``."""

    graph: onnx.GraphProto
    nodes: list[onnx.NodeProto] = field(default_factory=list)  # protobuf indexing is slow
    ops: list[str] = field(default_factory=list)  # plain copies of per-node fields, for speed
    node_inputs: list[tuple[str, ...]] = field(default_factory=list)
    node_outputs: list[tuple[str, ...]] = field(default_factory=list)
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

    def describe(self, position: int) -> str:
        """``name (OpType)`` of the node at ``position``; ``OpType#position`` when unnamed."""
        node = self.nodes[position]
        return f"{node.name} ({node.op_type})" if node.name else f"{node.op_type}#{position}"

    def layers_using(self, tensor: str, limit: int = 5) -> list[int]:
        """Positions of the first nodes that compute with ``tensor``, in graph order: its
        readers, looking through constant nodes (a Cast, DequantizeLinear or Reshape of a
        weight) to the layers that use the result. At most ``limit`` positions; the walk is
        bounded so that a hostile constant sub-graph cannot make it quadratic."""
        found: list[int] = []
        seen: set[int] = set()
        queue = deque([tensor])
        while queue and len(found) < limit and len(seen) < _WALK_LIMIT:
            for position in self.consumers.get(queue.popleft(), ()):
                if position in seen:
                    continue
                seen.add(position)
                outputs = [n for n in self.node_outputs[position] if n]
                if outputs and all(n in self.constant for n in outputs):
                    queue.extend(outputs)
                elif len(found) < limit:
                    found.append(position)
        return sorted(found)


def build_index(graph: onnx.GraphProto) -> GraphIndex:
    """Index ``graph`` in O(nodes + edges)."""
    nodes = list(graph.node)
    index = GraphIndex(graph, nodes)
    index.ops = [node.op_type for node in nodes]
    index.node_inputs = [tuple(node.input) for node in nodes]
    index.node_outputs = [tuple(node.output) for node in nodes]
    index.initializers = {t.name: t for t in graph.initializer}
    index.inputs = [v for v in graph.input if v.name not in index.initializers]
    for position, outputs in enumerate(index.node_outputs):
        for name in outputs:
            if name:
                index.producer[name] = position
    for position, inputs in enumerate(index.node_inputs):
        for name in inputs:
            if name:
                index.consumers.setdefault(name, []).append(position)
    index.order, index.cyclic = _topological_order(index.node_inputs, index.producer)
    index.constant = _constant_tensors(index)
    return index


def _topological_order(
    node_inputs: list[tuple[str, ...]], producer: dict[str, int]
) -> tuple[list[int], list[int]]:
    """Kahn's algorithm; returns (order, positions left over because they sit on a cycle)."""
    waiting = [0] * len(node_inputs)
    dependants: list[list[int]] = [[] for _ in node_inputs]
    get = producer.get
    for position, inputs in enumerate(node_inputs):
        if len(inputs) == 1:  # most nodes: no set needed to drop a repeated parent
            parent = get(inputs[0])
            parents: Iterable[int] = () if parent is None else (parent,)
        else:
            parents = {producer[n] for n in inputs if n in producer}
        for parent in parents:
            waiting[position] += 1
            dependants[parent].append(position)
    ready = deque(p for p, count in enumerate(waiting) if count == 0)
    order: list[int] = []
    while ready:
        position = ready.popleft()
        order.append(position)
        for child in dependants[position]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if len(order) == len(node_inputs):
        return order, []
    done = set(order)
    return order, [p for p in range(len(node_inputs)) if p not in done]


def _constant_tensors(index: GraphIndex) -> set[str]:
    constant = set(index.initializers)
    for position in index.order:
        op = index.ops[position]
        if op in _SUBGRAPH_OPS:
            continue
        inputs = index.node_inputs[position]
        if "" in inputs:  # an omitted optional input is no reason to be variable
            inputs = tuple(n for n in inputs if n)
        if (inputs or op in _SOURCE_OPS) and constant.issuperset(inputs):
            constant.update(n for n in index.node_outputs[position] if n)
    return constant
