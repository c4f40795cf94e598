"""A straight-through gradient for ArgMax-based quantisers on the input path (BPDA's identity
approximation, Athalye et al. 2018), for :class:`validator.attacks.torch_graph.TorchGraph`.

The pattern covered: a float tensor ``X`` that carries the input's gradient is broadcast
against a constant set of levels or colours (the first node, walking back from the ArgMax, whose
output has more elements than its input), the distances or scores are reduced by an ArgMax, and
the indices are turned back into values (``Gather`` of the levels, ``OneHot`` followed by
``MatMul`` or ``Mul`` + ``ReduceSum``, any reshaping). The first tensor downstream of the ArgMax
that is a float, carries no gradient (every dependence on the input went through the ArgMax), is
not itself an index encoding (``OneHot``, ``Cast``, a comparison) and has the shape of ``X`` (or
of a tensor between ``X`` and the broadcast; the nearest to the broadcast wins) is the quantised
``X``: its forward value is kept, its backward pass is the identity to ``X``.

Not covered (still flagged by the ``masking`` check, and gradient attacks may stay blind): an
ArgMax whose input is not reached from ``X`` through a chain of operators with one input-
dependent input each (e.g. ``x * x - 2 * x * l``, which reads ``x`` twice), an ArgMax over the
input itself with no broadcast against levels, and indices that never come back to ``X``'s shape
(e.g. used to pick a branch or a weight set).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import onnx

_SHAPE_ONLY = frozenset({"Shape", "Size"})
INDEX_ENCODINGS = frozenset(
    {"OneHot", "Cast", "ArgMax", "ArgMin", "Equal", "Less", "Greater", "LessOrEqual",
     "GreaterOrEqual", "Not", "And", "Or"}
)  # fmt: skip


@dataclass(frozen=True)
class Quantiser:
    """One ArgMax on the input path: the tensors walking back from its data input along single
    input-dependent inputs (nearest first), and the tensors downstream of it."""

    node: int
    chain: tuple[str, ...]
    downstream: frozenset[str]


def find_quantisers(graph: onnx.GraphProto) -> list[Quantiser]:
    """The ArgMax nodes of ``graph`` (in node order) that depend on the graph input."""
    constants = {t.name for t in graph.initializer}
    tainted = {i.name for i in graph.input if i.name not in constants}
    producer: dict[str, onnx.NodeProto] = {}
    for node in graph.node:
        for name in node.output:
            producer[name] = node
        if node.op_type not in _SHAPE_ONLY and any(n in tainted for n in node.input if n):
            tainted.update(n for n in node.output if n)
    found = []
    for position, node in enumerate(graph.node):
        if node.op_type == "ArgMax" and node.input[0] in tainted:
            chain = _chain(node.input[0], producer, tainted)
            found.append(Quantiser(position, chain, _downstream(graph, position)))
    return found


def _chain(start: str, producer: dict[str, onnx.NodeProto], tainted: set[str]) -> tuple[str, ...]:
    chain = [start]
    while chain[-1] in producer and len(chain) < len(producer) + 1:
        node = producer[chain[-1]]
        dependent = {n for n in node.input if n in tainted}
        if len(dependent) != 1 or node.op_type in _SHAPE_ONLY:
            break
        chain.append(dependent.pop())
    return tuple(chain)


def _downstream(graph: onnx.GraphProto, position: int) -> frozenset[str]:
    reached = {n for n in graph.node[position].output if n}
    for node in list(graph.node)[position + 1 :]:
        if any(n in reached for n in node.input if n):
            reached.update(n for n in node.output if n)
    return frozenset(reached)


class StraightThrough:
    """The quantisers of one graph evaluation: armed when their ArgMax runs on a tensor with a
    gradient, applied to the first matching value downstream (see the module docstring)."""

    def __init__(self, quantisers: Sequence[Quantiser]) -> None:
        self.by_node = {q.node: q for q in quantisers}
        self.armed: list[tuple[Quantiser, list[Any]]] = []

    def after(self, position: int, op: str, outputs: Sequence[str], env: dict[str, Any]) -> None:
        """Call after node ``position`` has written ``outputs`` into ``env``."""
        quantiser = self.by_node.get(position)
        if quantiser is not None:
            entries = _entries(quantiser.chain, env)
            if entries:
                self.armed.append((quantiser, entries))
            return
        if not self.armed or op in INDEX_ENCODINGS:
            return
        for name in outputs:
            value = env.get(name)
            if value is None or not value.is_floating_point() or value.requires_grad:
                continue
            for k, (q, entries) in enumerate(self.armed):
                if name not in q.downstream:
                    continue
                entry = next((e for e in entries if tuple(e.shape) == tuple(value.shape)), None)
                if entry is not None:
                    env[name] = entry + (value.to(entry.dtype) - entry).detach()
                    del self.armed[k]
                    break


def _entries(chain: Sequence[str], env: dict[str, Any]) -> list[Any]:
    """The chain's tensors before the broadcast against the levels, nearest first, that carry a
    gradient; empty when there is no broadcast or no gradient."""
    if any(name not in env for name in chain):
        return []
    values = [env[name] for name in chain]
    if not values[0].requires_grad:
        return []
    for k in range(len(values) - 1):
        if values[k].numel() > values[k + 1].numel():
            return [v for v in values[k + 1 :] if v.is_floating_point() and v.requires_grad]
    return []
