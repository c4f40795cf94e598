"""Static analysis of a whole model: shapes at a bound batch, multiply-adds, parameters.

Control flow: an If counts its most expensive branch, a Loop with a constant trip count counts
its body that many times, a Loop or Scan whose count depends on data counts its body once; each
such choice is recorded in ``notes`` so the report can say so.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

import onnx

from validator.graph.index import GraphIndex, build_index
from validator.graph.macs import Counts, NodeView, Unknown, count_node
from validator.graph.params import ParamCount, count_params
from validator.graph.shapes import ShapeMap, ShapeProbe, infer_shapes, make_skeleton
from validator.loading.tensors import inline_array
from validator.vocab import MacsConvention

CONVENTIONS = tuple(MacsConvention)
TOP_NODES = 10


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


@dataclass(frozen=True)
class GraphAnalysis:
    """Everything the static checks need, computed once per model and batch size."""

    batch: int
    size: int
    index: GraphIndex
    skeleton: onnx.ModelProto  # weight-free copy, reused to infer other batch sizes
    shapes: ShapeMap
    macs: MacTally
    params: ParamCount
    probe: ShapeProbe | None = None  # reused to measure other batch sizes


def analyse(
    model: onnx.ModelProto, batch: int = 1, size: int = 224, probe: ShapeProbe | None = None
) -> GraphAnalysis:
    """Shapes, multiply-adds and parameters of ``model`` with the batch bound to ``batch``.
    ``probe`` measures at run time the shapes static inference cannot find (shapes.py)."""
    skeleton = make_skeleton(model)
    notes: list[str] = []
    shapes = infer_shapes(model, batch, size, skeleton=skeleton, probe=probe, notes=notes)
    index = build_index(model.graph)
    tally = _tally_graph(index, shapes)
    tally.notes.extend(notes)
    fixed = fixed_batch(index)
    if fixed is not None and fixed > 1:
        tally.per_image(fixed)
    params = count_params(index, shapes)
    return GraphAnalysis(batch, size, index, skeleton, shapes, tally, params, probe)


def fixed_batch(index: GraphIndex) -> int | None:
    """The batch size of the first input, an N x C x H x W image, when the file fixes it."""
    if not index.inputs:
        return None
    dims = index.inputs[0].type.tensor_type.shape.dim
    if len(dims) == 4 and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value)
    return None


def macs_at_batch(analysis: GraphAnalysis, batch: int) -> MacTally:
    """Multiply-adds of the same model at another batch size (index and skeleton reused; the
    totals and per-op figures only, no per-node detail)."""
    shapes = infer_shapes(
        analysis.skeleton, batch, analysis.size, skeleton=analysis.skeleton, probe=analysis.probe
    )
    return _tally_graph(analysis.index, shapes, detail=False)


def _tally_graph(
    index: GraphIndex, shapes: ShapeMap, outer: frozenset[str] = frozenset(), detail: bool = True
) -> MacTally:
    """The tally of one graph; ``outer`` names the enclosing scopes' constants (a Loop body
    reads its weights from there). Without ``detail`` the per-node figures (by_node, the
    heaviest nodes) are left empty: the totals at another batch size need none of them."""
    tally = MacTally()
    for position in index.order:
        op, inputs = index.ops[position], index.node_inputs[position]
        if op in ("If", "Loop", "Scan"):
            _tally_control_flow(index, position, shapes, tally, outer | index.constant)
            continue
        view = NodeView(
            index.nodes[position],
            [shapes.get(n) if n else None for n in inputs],
            [shapes.get(n) if n else None for n in index.node_outputs[position]],
            [bool(n) and (n in index.constant or n in outer) for n in inputs],
        )
        try:
            counts = count_node(view)
        except Unknown:
            tally.uncounted.append(f"{index.node_name(position)} ({op})")
            continue
        tally.add(op, counts)
        if detail:
            tally.by_node[position] = counts
            if any(counts.values()):
                tally.note_node(f"{index.node_name(position)} ({op})", counts)
    return tally


def _tally_control_flow(
    index: GraphIndex, position: int, shapes: ShapeMap, tally: MacTally, outer: frozenset[str]
) -> None:
    node, name = index.nodes[position], index.node_name(position)
    bodies = {
        a.name: _tally_graph(build_index(a.g), shapes, outer) for a in node.attribute if a.g.node
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


def top_ops(tally: MacTally, convention: MacsConvention, n: int = 8) -> Iterable[tuple[str, int]]:
    """The op types with the most multiply-adds under ``convention``."""
    ranked = sorted(tally.by_op.items(), key=lambda kv: -kv[1][convention])
    return [(op, counts[convention]) for op, counts in ranked[:n] if counts[convention]]
