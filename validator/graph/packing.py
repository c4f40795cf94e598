"""Networks packed side by side in one tensor: channel blocks that never mix.

Two models can share every node yet never interact: concatenate the input with itself along
channels, make every convolution grouped so each half only sees its own half, and average the two
halves of the output. Starting from a tensor whose channel blocks are fused at the end, this walks
upstream, keeping for each tensor the channel boundaries its consumers require to stay unmixed.
A grouped convolution keeps a boundary when it falls between groups; per-channel operations keep
every boundary; anything else that would mix (a dense convolution, a reshape, a matrix product)
stops the walk there. The packing is real only if the blocks are never mixed on any path, i.e.
nothing the walk kept feeds a node where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

from validator.graph.dataflow import DataFlow, attribute
from validator.graph.weight_blocks import input_cuts, weight_mask

PER_CHANNEL = frozenset(
    {
        "Relu",
        "LeakyRelu",
        "PRelu",
        "Elu",
        "Selu",
        "Celu",
        "Gelu",
        "Sigmoid",
        "HardSigmoid",
        "HardSwish",
        "Tanh",
        "Softplus",
        "Softsign",
        "Mish",
        "Clip",
        "Identity",
        "Dropout",
        "Cast",
        "Neg",
        "Abs",
        "Exp",
        "Log",
        "Sqrt",
        "Reciprocal",
        "Erf",
        "Floor",
        "Ceil",
        "Round",
        "Sign",
        "Not",
        "Pow",
        "BatchNormalization",
        "InstanceNormalization",
        "MaxPool",
        "AveragePool",
        "LpPool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "GlobalLpPool",
        "Resize",
        "Upsample",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Max",
        "Min",
        "Sum",
        "Mean",
        "Where",
    }
)
UNIT_RESHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})


@dataclass(frozen=True)
class Packing:
    """Channel blocks of ``tensor`` that are separate networks from ``starts`` onwards."""

    tensor: str
    bounds: tuple[int, ...]  # block edges in channels: 0, ..., channels
    nodes: tuple[int, ...]  # the packed region
    macs: int
    starts: tuple[int, ...]  # nodes where the packed region begins
    roots: tuple[str, ...] = ()  # whole blocks concatenated into the region (separate inputs)


def packed_blocks(flow: DataFlow, tensor: str, cuts: set[int]) -> Packing | None:
    """The packing of ``tensor`` into blocks split at channel positions ``cuts``, or None when
    some block mixes with another upstream."""
    dims = flow.dims(tensor)
    if dims is None or len(dims) < 2 or not cuts or tensor not in flow.index.producer:
        return None
    need: dict[str, set[int]] = {tensor: set(cuts)}
    region: list[int] = []
    roots: list[str] = []
    frontier: set[int] = set()  # nodes upstream of the region (must not depend on it)
    last = flow.rank.get(flow.index.producer[tensor])
    if last is None:
        return None
    for position in reversed(flow.order[: last + 1]):
        wanted = [need.get(n, set()) for n in flow.outputs(position)]
        if not any(wanted):
            continue
        demands = _propagate(flow, position, wanted)
        if demands is None:
            frontier.add(position)
            continue
        region.append(position)
        for name, bounds in demands.items():
            if bounds:
                need.setdefault(name, set()).update(bounds)
            elif name in flow.index.producer:
                frontier.add(flow.index.producer[name])
                if flow.op(position) == "Concat":
                    roots.append(name)
    if not region or _depends_on(flow, frontier, set(region)):
        return None
    inside = set(region)
    starts = tuple(p for p in reversed(region) if not any(q in inside for q in flow.parents[p]))
    edges = tuple(sorted({0, dims[1], *cuts}))
    macs = sum(flow.macs[p] for p in region)
    return Packing(tensor, edges, tuple(reversed(region)), macs, starts, tuple(roots))


def _depends_on(flow: DataFlow, frontier: set[int], region: set[int]) -> bool:
    """True when a node of ``region`` is upstream of (or is) a frontier node."""
    seen: set[int] = set()
    stack = list(frontier)
    while stack:
        position = stack.pop()
        if position in seen:
            continue
        if position in region:
            return True
        seen.add(position)
        stack.extend(flow.parents.get(position, ()))
    return False


def _channels(flow: DataFlow, name: str) -> int | None:
    dims = flow.dims(name)
    return dims[1] if dims is not None and len(dims) >= 2 else None


def _propagate(flow: DataFlow, position: int, wanted: list[set[int]]) -> dict[str, set[int]] | None:
    """What the node's data inputs must keep unmixed so the ``wanted`` boundaries hold at its
    outputs; None when the node mixes across them."""
    node = flow.node(position)
    op = node.op_type
    if op in ("Split", "Slice"):
        return _chunk(flow, position, wanted)
    bounds = wanted[0]
    if op == "Conv":
        return _conv(flow, position, bounds)
    if op in ("Gemm", "MatMul"):
        return _by_weights(flow, position, bounds)
    if op == "Concat":
        return _concat(flow, position, bounds)
    if op in UNIT_RESHAPES:
        return _unit_reshape(flow, position, bounds)
    if op not in PER_CHANNEL:
        return None
    out = _channels(flow, node.output[0])
    demands: dict[str, set[int]] = {}
    for name in flow.data_inputs(position):
        if _channels(flow, name) != out:
            return None  # a broadcast data operand (e.g. a spatial attention map) mixes
        demands[name] = bounds
    return demands


def _conv(flow: DataFlow, position: int, bounds: set[int]) -> dict[str, set[int]] | None:
    node = flow.node(position)
    groups = int(attribute(node, "group", 1))  # type: ignore[call-overload]
    out, cin = _channels(flow, node.output[0]), _channels(flow, node.input[0])
    if groups < 2:
        return _by_weights(flow, position, bounds)
    if out is None or cin is None or node.input[0] not in flow.data:
        return None
    step_out, step_in = out // groups, cin // groups
    if any(b % step_out for b in bounds):
        return None
    return {node.input[0]: {b // step_out * step_in for b in bounds}}


def _by_weights(flow: DataFlow, position: int, bounds: set[int]) -> dict[str, set[int]] | None:
    """A dense layer keeps the blocks apart when its stored weights between them are all zero."""
    node = flow.node(position)
    dims = flow.dims(node.output[0])
    mask = weight_mask(flow, position)
    if mask is None or dims is None or len(dims) < 2 or mask.shape[0] != dims[1]:
        return None
    if node.op_type != "Conv" and len(dims) != 2:
        return None  # a matrix product over tokens: its second axis is not channels
    cuts = input_cuts(mask, bounds)
    return None if cuts is None else {node.input[0]: cuts}


def _concat(flow: DataFlow, position: int, bounds: set[int]) -> dict[str, set[int]] | None:
    node = flow.node(position)
    rank = len(flow.dims(node.output[0]) or ())
    if int(attribute(node, "axis", 0)) % max(rank, 1) != 1:  # type: ignore[call-overload]
        return None
    demands: dict[str, set[int]] = {}
    offset = 0
    for name in node.input:
        size = _channels(flow, name)
        if size is None:
            return None
        if name in flow.data:
            inner = {b - offset for b in bounds if offset < b < offset + size}
            demands[name] = demands.get(name, set()) | inner
        offset += size
    return demands


def _chunk(flow: DataFlow, position: int, wanted: list[set[int]]) -> dict[str, set[int]] | None:
    """A Split or Slice along channels: output blocks are blocks of the input, shifted."""
    node = flow.node(position)
    source = node.input[0]
    ranges = channel_chunks(flow, position)
    if ranges is None or source not in flow.data:
        return None
    shifted: set[int] = set()
    for bounds, (start, _) in zip(wanted, ranges, strict=False):
        shifted |= {b + start for b in bounds}
    return {source: shifted}


def channel_chunks(flow: DataFlow, position: int) -> list[tuple[int, int]] | None:
    """Channel ranges [start, end) of each output of a Split or unit-step Slice on axis 1."""
    node = flow.node(position)
    dims = flow.dims(node.input[0])
    if dims is None or len(dims) < 2:
        return None
    channels = dims[1]
    if node.op_type == "Split":
        if int(attribute(node, "axis", 0)) % len(dims) != 1:  # type: ignore[call-overload]
            return None
        sizes = [_channels(flow, n) for n in node.output]
        if any(s is None for s in sizes):
            return None
        starts = [sum(s or 0 for s in sizes[:i]) for i in range(len(sizes))]
        return [(a, a + (s or 0)) for a, s in zip(starts, sizes, strict=True)]
    if node.op_type == "Slice":
        return _slice_range(flow, node.input, len(dims), channels)
    return None


def _slice_range(
    flow: DataFlow, inputs: object, rank: int, channels: int
) -> list[tuple[int, int]] | None:
    names = list(inputs)  # type: ignore[call-overload]
    values = [flow.value(n) for n in names[1:5]]
    while len(values) < 4:
        values.append(None)
    starts, ends, axes, steps = values
    if starts is None or ends is None:
        return None
    axis_list = [int(a) % rank for a in (axes if axes is not None else range(len(starts)))]
    step_list = [int(s) for s in (steps if steps is not None else [1] * len(axis_list))]
    if 1 not in axis_list:
        return None
    i = axis_list.index(1)
    if step_list[i] != 1:
        return None
    start = min(max(int(starts[i]) + (channels if int(starts[i]) < 0 else 0), 0), channels)
    end = min(max(int(ends[i]) + (channels if int(ends[i]) < 0 else 0), 0), channels)
    return [(start, end)]


def _unit_reshape(flow: DataFlow, position: int, bounds: set[int]) -> dict[str, set[int]] | None:
    """Reshapes that only add or drop unit dims after the channel axis keep channel blocks."""
    node = flow.node(position)
    before, after = flow.dims(node.input[0]), flow.dims(node.output[0])
    if before is None or after is None or len(before) < 2 or len(after) < 2:
        return None
    if before[:2] != after[:2] or any(d != 1 for d in (*before[2:], *after[2:])):
        return None
    return {node.input[0]: bounds}
