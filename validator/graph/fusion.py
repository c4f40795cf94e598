"""How branches are fed (their view of the input) and how their outputs are combined."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from validator.graph.dataflow import DataFlow, attribute
from validator.graph.heads import LIGHT_SHARE, Masks

_VOTE_OPS = frozenset({"ArgMax", "ArgMin", "OneHot", "TopK", "Equal", "ScatterElements"})
_MAX_OPS = frozenset({"Max", "ReduceMax"})
_PROB_OPS = frozenset({"Softmax", "LogSoftmax", "Sigmoid"})
_MEAN_OPS = frozenset({"Mean", "ReduceMean", "Div"})


@dataclass(frozen=True)
class Fusion:
    """Where and how branches meet: the meeting nodes, every op after the heads, a kind."""

    nodes: tuple[str, ...]
    ops: tuple[str, ...]
    kind: str

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"nodes": list(self.nodes), "ops": list(self.ops), "kind": self.kind}


def describe_fusion(flow: DataFlow, groups: list[list[int]], masks: Masks) -> Fusion:
    """The fusion of branches whose heads are ``groups`` (lists of head node positions)."""
    label: dict[int, int] = {}
    seed = {head: 1 << i for i, group in enumerate(groups) for head in group}
    meeting: list[int] = []
    tail: list[int] = []
    before: list[int] = []  # tail nodes that still see one member only
    for position in flow.order:
        parents = [label.get(p, 0) for p in flow.parents[position]]
        value = seed.get(position, 0)
        for parent in parents:
            value |= parent
        label[position] = value
        if value and not masks.of.get(position):
            tail.append(position)
            if not value & (value - 1):
                before.append(position)
            elif value not in parents:
                meeting.append(position)
    ops = tuple(dict.fromkeys(flow.op(p) for p in tail))
    meet_ops = {flow.op(p) for p in meeting}
    kind = _kind(flow, tail, meet_ops, before)
    return Fusion(tuple(flow.name(p) for p in meeting[:4]), ops, kind)


def _kind(flow: DataFlow, tail: list[int], meet_ops: set[str], before: list[int]) -> str:
    """Name the combination: selection, voting, median, maximum, product, learned stacking,
    weighted mean, mean or sum (the most specific that the ops after the heads show)."""
    ops = {flow.op(p) for p in tail}
    what = "probabilities" if ops & _PROB_OPS else "scores"
    if meet_ops & _SELECT_OPS:
        return f"selection (one member's output picked per element by {_first(meet_ops)})"
    if ops & _VOTE_OPS - {"TopK"}:
        return "hard voting (arg-max of each member, votes combined)"
    if _median(ops, meet_ops):
        return f"median of member {what}"
    if meet_ops & _MAX_OPS or ("Concat" in meet_ops and "ReduceMax" in ops):
        return "maximum over members"
    if meet_ops & {"Min"} or ("Concat" in meet_ops and "ReduceMin" in ops):
        return "minimum over members"
    if "Mul" in meet_ops or ("Concat" in meet_ops and "ReduceProd" in ops):
        return f"product of member {what}"
    weighted = [p for p in tail if flow.weighted(p) and p not in before]
    if weighted:
        return _weighted_kind(flow, weighted[0], what)
    if "LogSoftmax" in ops and ops & {"Add", "Sum", "ReduceSum", "Mean", "ReduceMean"}:
        return "geometric mean of member probabilities (log-probabilities summed)"
    if meet_ops & {"Concat"} and not ops & (_MEAN_OPS | {"ReduceSum", "Sum", "Mul"}):
        return f"concatenation of member {what}"
    if _member_scaled(flow, before):
        return f"weighted mean of member {what}"
    averaged = bool(ops & _MEAN_OPS) or "Mul" in ops
    return f"{'mean' if averaged else 'sum'} of member {what}"


_SELECT_OPS = frozenset({"Where", "If", "GatherElements", "GatherND", "Gather", "Compress"})


def _first(ops: set[str]) -> str:
    return sorted(ops & _SELECT_OPS)[0]


def _median(ops: set[str], meet_ops: set[str]) -> bool:
    """Sorting members and taking the middle (TopK then Gather/Slice), or the min/max
    formulas of a median of three."""
    if "TopK" in ops and ops & {"Gather", "Slice", "Split", "Squeeze"}:
        return True
    if {"Max", "Min"} <= ops and meet_ops & {"Max", "Min"}:
        return True
    return {"ReduceMax", "ReduceMin"} <= ops and "Sub" in ops


def _weighted_kind(flow: DataFlow, position: int, what: str) -> str:
    """A layer with constant weights after the heads: a weighted mean when its weight only
    scales members (one number per member), learned stacking when it mixes classes."""
    node, name = flow.node(position), flow.name(position)
    weights = [flow.value(n) for n in node.input if n and n not in flow.data]
    weight = next((w for w in weights if w is not None), None)
    if weight is None or weight.size > _MAX_MEMBERS:
        return f"learned stacking (a learned layer {name!r} over the member outputs)"
    values = weight.reshape(-1)
    if np.allclose(values, values[0]):
        return f"mean of member {what} (equal constant weights in {node.op_type} {name!r})"
    return f"weighted mean of member {what} (constant weights in {node.op_type} {name!r})"


_MAX_MEMBERS = 64  # a weight with at most this many numbers only scales members


def _member_scaled(flow: DataFlow, before: list[int]) -> bool:
    """True when members are scaled by constants before they meet (a weighted mean)."""
    scaled = 0
    for position in before:
        node = flow.node(position)
        constant = any(n and n not in flow.data for n in node.input)
        if node.op_type in ("Mul", "Div") and len(flow.parents[position]) == 1 and constant:
            scaled += 1
    return scaled >= 2


_REDUCING = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax"})


def describe_tail(flow: DataFlow, position: int, inclusive: bool = False) -> Fusion:
    """How the nodes after ``position`` (and it, if ``inclusive``) combine what it made, for
    packed networks and batched views, whose members share their last node: the first join
    of two paths or reduction is where members meet."""
    after: set[int] = {position} if inclusive else set()
    stack = list(flow.children[position])
    while stack:
        node = stack.pop()
        if node not in after:
            after.add(node)
            stack.extend(flow.children[node])
    tail = [p for p in flow.order if p in after]
    meeting = [p for p in tail if flow.op(p) in _REDUCING or len(flow.parents[p]) >= 2][:1]
    meet_ops = {flow.op(p) for p in meeting}
    ops = tuple(dict.fromkeys(flow.op(p) for p in tail))
    weighted = [p for p in tail if flow.weighted(p)]
    if not meeting and weighted:  # the blocks meet inside one layer's weights
        name = flow.name(weighted[0])
        kind = (
            f"members meet inside the final layer {name!r}: its weights hold each member's "
            "classifier side by side and sum their scores (averaging folded into the layer)"
        )
        return Fusion((name,), ops, kind)
    first = flow.rank[meeting[0]] if meeting else 0
    members_only = [p for p in tail if flow.rank[p] < first]  # each member's own head
    return Fusion(
        tuple(flow.name(p) for p in meeting), ops, _kind(flow, tail, meet_ops, members_only)
    )


def member_view(flow: DataFlow, entry: int) -> str:
    """What a branch reads: the input (flipped, resized...) or features of a shared node."""
    inputs = flow.data_inputs(entry)
    shared = [n for n in inputs if n in flow.index.producer]
    view = describe_view(flow, entry)
    if shared:
        source = f"features of shared node {flow.name(flow.index.producer[shared[0]])!r}"
        return source if view == "unchanged" else f"{source}, then {view}"
    return "the input as is" if view == "unchanged" else view


def describe_view(flow: DataFlow, entry: int, limit: int = 4) -> str:
    """What a branch does to its input before its first weighted layer (flip, resize, crop)."""
    steps: list[str] = []
    position: int | None = entry
    while position is not None and len(steps) < limit:
        if flow.weighted(position) and not _to_grey(flow, position):
            break
        steps.append(_view_step(flow, position))
        children = flow.children[position]
        position = children[0] if len(children) == 1 else None
    return ", then ".join(s for s in steps if s) or "unchanged"


def _view_step(flow: DataFlow, position: int) -> str:
    node = flow.node(position)
    op, name = node.op_type, flow.name(position)
    if op == "Slice":
        steps = flow.value(node.input[4]) if len(node.input) > 4 else None
        axes = flow.value(node.input[3]) if len(node.input) > 3 else None
        if steps is not None and (steps.reshape(-1) < 0).any():
            flipped = (
                [int(a) for a, s in zip(axes.reshape(-1), steps.reshape(-1), strict=False) if s < 0]
                if axes is not None
                else []
            )
            where = {3: "horizontal ", 2: "vertical ", -1: "horizontal ", -2: "vertical "}
            return f"{where.get(flipped[0], '') if flipped else ''}flip (Slice {name!r})"
        return f"crop (Slice {name!r})"
    if op in ("Resize", "Upsample"):
        dims = flow.dims(node.output[0])
        size = f" to {dims[-2]}x{dims[-1]}" if dims and len(dims) == 4 else ""
        return f"resize{size} ({op} {name!r})"
    if op in ("Transpose", "Pad", "Gather", "ReverseSequence"):
        return f"{op} {name!r}"
    if _to_grey(flow, position):
        return f"grey-scale ({op} {name!r} averages the colour channels)"
    return ""


def _to_grey(flow: DataFlow, position: int) -> bool:
    """A node turning a colour image into one channel: a mean or sum over the channel axis,
    or a 1x1 convolution from 3 channels to 1."""
    node = flow.node(position)
    dims = flow.dims(node.output[0])
    if dims is None or len(dims) != 4 or dims[1] != 1:
        return False
    source = flow.dims(node.input[0]) if node.input else None
    return source is not None and len(source) == 4 and source[1] == 3


def batch_fold(flow: DataFlow, concat: int) -> int | None:
    """The first node after a batch Concat that brings the batch back to its size (where
    the views' outputs are combined)."""
    dims = flow.dims(flow.outputs(concat)[0])
    if not dims:
        return None
    for position in flow.order[flow.rank[concat] + 1 :]:
        outputs = flow.outputs(position)
        out = flow.dims(outputs[0]) if outputs else None
        ins = [flow.dims(n) for n in flow.data_inputs(position)]
        if out and out[0] < dims[0] and any(d and d[0] == dims[0] for d in ins):
            return position
    return None


def batch_views(flow: DataFlow, lead: dict[int, int]) -> tuple[int, list[str]] | None:
    """A Concat along the batch axis of several views of the input, made before any real work
    (test-time augmentation run as one batch): (the Concat, how each view is made)."""
    light = LIGHT_SHARE * flow.total
    for position in flow.order:
        if flow.op(position) != "Concat" or lead[position] > light:
            continue
        node = flow.node(position)
        rank = len(flow.dims(node.output[0]) or ())
        if rank < 2 or int(attribute(node, "axis", 0)) % rank != 0:  # type: ignore[call-overload]
            continue
        views = [n for n in node.input if n in flow.data]
        if len(views) >= 2:
            return position, [_view_origin(flow, n) for n in views]
    return None


def _view_origin(flow: DataFlow, tensor: str) -> str:
    """How a view tensor is derived from the input (the last op that made it)."""
    producer = flow.index.producer.get(tensor)
    if producer is None:
        return f"the input {tensor!r}"
    return _view_step(flow, producer) or f"{flow.op(producer)} {flow.name(producer)!r}"
