"""Multiply-adds of a whole graph, node by node, tallied per convention and op type.

A node's counts are a pure function of what ``count_node`` may see: its op type, domain and
attributes, which inputs are present and constant, and its tensors' shapes. Nodes alike in all
of these (the repeated blocks of a deep network, the links of a long chain) are counted once and
the totals are added per distinct kind after the walk, so that a 200,000-node graph costs a few
dict operations per node rather than a counting rule and four heap pushes each.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import onnx

from validator.graph.index import GraphIndex, build_index
from validator.graph.macs import Counts, NodeView, Unknown, count_node
from validator.graph.shapes import ShapeMap
from validator.loading.tensors import inline_array
from validator.vocab import MacsConvention

CONVENTIONS = tuple(MacsConvention)
TOP_NODES = 10
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


@dataclass
class MacTally:
    """Multiply-adds per convention, per op type, plus what could not be counted."""

    total: Counts = field(default_factory=lambda: dict.fromkeys(CONVENTIONS, 0))
    by_op: dict[str, Counts] = field(default_factory=dict)
    nodes_by_op: dict[str, int] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)
    heaviest: dict[MacsConvention, list[tuple[int, str]]] = field(
        default_factory=lambda: {c: [] for c in CONVENTIONS}
    )
    notes: list[str] = field(default_factory=list)
    by_node: dict[int, Counts] = field(default_factory=dict)  # top-level graph positions

    def add(self, op: str, counts: Counts, times: int = 1, nodes: int = 1) -> None:
        """Add ``counts`` of ``nodes`` nodes of type ``op``, executed ``times`` times."""
        per_op = self.by_op.setdefault(op, dict.fromkeys(CONVENTIONS, 0))
        for c in CONVENTIONS:
            self.total[c] += counts[c] * times
            per_op[c] += counts[c] * times
        self.nodes_by_op[op] = self.nodes_by_op.get(op, 0) + nodes * times

    def note_node(self, name: str, counts: Counts) -> None:
        """Remember ``name`` if it is among the most expensive nodes of a convention."""
        for c in CONVENTIONS:
            self._push(c, (counts[c], name))

    def _push(self, convention: MacsConvention, entry: tuple[int, str]) -> None:
        heap = self.heaviest[convention]
        if len(heap) < TOP_NODES:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)

    def top_nodes(self, convention: MacsConvention) -> list[tuple[str, int]]:
        """The most expensive nodes under ``convention``, heaviest first."""
        ranked = sorted(self.heaviest[convention], reverse=True)
        return [(name, macs) for macs, name in ranked if macs]

    def per_image(self, batch: int) -> None:
        """Divide a tally counted for a whole fixed batch of ``batch`` images by it."""
        for counts in (self.total, *self.by_op.values()):
            for c in CONVENTIONS:
                counts[c] = round(counts[c] / batch)
        for c in CONVENTIONS:
            self.heaviest[c] = [(round(m / batch), n) for m, n in self.heaviest[c]]
            heapq.heapify(self.heaviest[c])
        self.notes.append(
            f"the input's batch is fixed at {batch}: counted for {batch} images and divided "
            f"by {batch} (per image)"
        )

    def merge(self, other: MacTally, times: int = 1) -> None:
        """Add a subgraph's tally, executed ``times`` times."""
        for op, counts in other.by_op.items():
            self.add(op, counts, times, other.nodes_by_op[op])
        self.uncounted.extend(other.uncounted)
        for c in CONVENTIONS:
            for macs, name in other.heaviest[c]:
                self._push(c, (macs * times, name))
        self.notes.extend(other.notes)


class _Kind:
    """Nodes alike in everything count_node sees: their counts (None: Unknown) and number."""

    __slots__ = ("counts", "nodes", "op")

    def __init__(self, op: str, counts: Counts | None) -> None:
        self.op, self.counts, self.nodes = op, counts, 0


def tally_graph(
    index: GraphIndex, shapes: ShapeMap, outer: frozenset[str] = frozenset(), detail: bool = True
) -> MacTally:
    """The tally of one graph; ``outer`` names the enclosing scopes' constants (a Loop body
    reads its weights from there). Without ``detail`` the per-node figures (by_node, the
    heaviest nodes) are left empty: the totals at another batch size need none of them."""
    tally = MacTally()
    kinds: dict[tuple[object, ...], _Kind] = {}  # first seen first
    counted: list[tuple[int, Counts]] = []
    get, constant = shapes.get, index.constant
    for position in index.order:
        op, inputs = index.ops[position], index.node_inputs[position]
        if op in _CONTROL_FLOW:
            _tally_control_flow(index, position, shapes, tally, outer | constant)
            continue
        node = index.nodes[position]
        in_shapes = tuple([get(n) if n else None for n in inputs])
        out_shapes = tuple([get(n) if n else None for n in index.node_outputs[position]])
        flags = tuple([bool(n) and (n in constant or n in outer) for n in inputs])
        attrs = node.attribute
        key = (
            op, node.domain, in_shapes, out_shapes, flags,
            tuple([bool(n) for n in inputs]) if "" in inputs else None,
            tuple([a.SerializeToString() for a in attrs]) if len(attrs) else None,
        )  # fmt: skip
        kind = kinds.get(key)
        if kind is None:
            kind = kinds[key] = _Kind(op, _count(NodeView(node, in_shapes, out_shapes, flags)))
            if kind.counts is not None:  # by_op keeps the order op types are first counted in
                tally.by_op.setdefault(op, dict.fromkeys(CONVENTIONS, 0))
        if kind.counts is None:
            tally.uncounted.append(f"{index.node_name(position)} ({op})")
            continue
        kind.nodes += 1
        if detail:
            counted.append((position, kind.counts))
    for kind in kinds.values():
        if kind.counts is not None:
            tally.add(kind.op, kind.counts, kind.nodes)
    if detail:
        tally.by_node.update(counted)
        _note_heaviest(index, tally, counted)
    return tally


def _count(view: NodeView) -> Counts | None:
    try:
        return count_node(view)
    except Unknown:
        return None


def _note_heaviest(index: GraphIndex, tally: MacTally, counted: list[tuple[int, Counts]]) -> None:
    """Keep the TOP_NODES heaviest (macs, "name (op)") per convention, exactly as pushing every
    node with any work in graph order would. Nodes of a kind share one Counts: below the
    TOP_NODES-th largest figure none can rank, and of those tied at it only the TOP_NODES
    greatest names can, so a long chain of alike nodes costs one label each, not four pushes."""
    groups: dict[int, tuple[Counts, list[int]]] = {}
    for position, counts in counted:
        group = groups.get(id(counts))
        if group is None:
            group = groups[id(counts)] = (counts, [])
        group[1].append(position)
    busy = [group for group in groups.values() if any(group[0].values())]
    labels: dict[int, list[str]] = {}
    for c in CONVENTIONS:
        floor = _floor([(counts[c], len(positions)) for counts, positions in busy])
        entries: list[tuple[int, str]] = []
        tied: list[str] = []
        for counts, positions in busy:
            if counts[c] >= floor:
                named = labels.get(id(counts)) or labels.setdefault(
                    id(counts), [_label(index, p) for p in positions]
                )
                if counts[c] > floor:
                    entries += [(counts[c], label) for label in named]
                else:
                    tied += named
        entries += [(floor, label) for label in heapq.nlargest(TOP_NODES, tied)]
        best = heapq.nlargest(TOP_NODES, entries + tally.heaviest[c])
        heapq.heapify(best)
        tally.heaviest[c] = best


def _floor(sizes: list[tuple[int, int]]) -> int:
    """The TOP_NODES-th largest figure of (figure, nodes with it); the least when fewer."""
    total = 0
    for value, nodes in sorted(sizes, reverse=True):
        total += nodes
        if total >= TOP_NODES:
            return value
    return min((value for value, _ in sizes), default=0)


def _label(index: GraphIndex, position: int) -> str:
    return f"{index.node_name(position)} ({index.ops[position]})"


def _tally_control_flow(
    index: GraphIndex, position: int, shapes: ShapeMap, tally: MacTally, outer: frozenset[str]
) -> None:
    node, name = index.nodes[position], index.node_name(position)
    bodies = {
        a.name: tally_graph(build_index(a.g), shapes, outer) for a in node.attribute if a.g.node
    }
    if node.op_type == "If" and bodies:
        heaviest = max(bodies.values(), key=lambda t: t.total[MacsConvention.FULL])
        tally.merge(heaviest)
        tally.notes.append(f"If {name!r}: counted the more expensive branch")
    elif node.op_type == "Loop" and "body" in bodies:
        trips = _constant_int(index, node.input[0] if node.input else "")
        if trips is None:
            tally.notes.append(f"Loop {name!r}: trip count depends on data; body counted once")
        tally.merge(bodies["body"], trips if trips is not None else 1)
    elif "body" in bodies:
        tally.notes.append(f"Scan {name!r}: body counted once (iterations not resolved)")
        tally.merge(bodies["body"])


def _constant_int(index: GraphIndex, name: str) -> int | None:
    tensor = index.initializers.get(name)
    if tensor is None and name in index.producer:
        node = index.nodes[index.producer[name]]
        if node.op_type == "Constant":
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
    if tensor is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    value = inline_array(tensor).reshape(-1)
    return int(value[0]) if value.size == 1 else None
