"""Where packed networks would be fused, and whether their channel blocks stay apart.

Two places can hold the blocks of packed networks: a tensor cut into channel chunks in the light
end of the graph (Split or Slice, each chunk a member's scores or features), and the output of
the last weighted layer before a head when it has a multiple of the class count in channels
(a grouped classifier whose blocks are then reshaped and averaged).

Blocks can also enter the packed layers as separate tensors: the features of separate networks
concatenated along channels and then kept apart by grouped layers. Those networks are found as
branches (heads.py) ending at the concatenated tensors, and count with the packed layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from validator.graph.dataflow import DataFlow, attribute
from validator.graph.heads import LIGHT_SHARE, Branch, Masks, head_masks, split_branches
from validator.graph.packing import (
    PER_CHANNEL,
    UNIT_RESHAPES,
    Packing,
    channel_chunks,
    packed_blocks,
)
from validator.graph.weight_blocks import MAX_BLOCKS, block_cuts, weight_mask

PACKED_SHARE = 0.5  # the unmixed blocks must hold at least this share of the multiply-adds
_TO_HEAD = frozenset(
    {
        "Reshape",
        "Flatten",
        "Squeeze",
        "Unsqueeze",
        "Transpose",
        "ReduceMean",
        "ReduceSum",
        "ReduceMax",
        "Softmax",
        "LogSoftmax",
        "Identity",
        "GlobalAveragePool",
        "AveragePool",
        "Div",
        "Mul",
    }
)


MAX_CANDIDATES = 16  # each candidate costs a walk over the graph


@dataclass(frozen=True)
class Packed:
    """A packing, and the separate networks (if any) whose features enter it as whole blocks."""

    packing: Packing
    branches: tuple[Branch, ...]
    roots: tuple[int, ...]  # nodes producing the concatenated blocks, one per branch head bit
    masks: Masks | None
    macs: int


def find_packing(
    flow: DataFlow, heads: list[int], tail: dict[int, int], classes: int
) -> Packed | None:
    """The packing holding the most work at any candidate, if it holds enough of it."""
    best: Packed | None = None
    for tensor, cuts in _candidates(flow, heads, tail, classes)[:MAX_CANDIDATES]:
        packing = packed_blocks(flow, tensor, cuts)
        if packing is None:
            continue
        found = _with_roots(flow, packing)
        if best is None or found.macs > best.macs:
            best = found
    if best is None or best.macs < PACKED_SHARE * flow.total:
        return None
    return best


def _with_roots(flow: DataFlow, packing: Packing) -> Packed:
    """Count the separate networks feeding the packing's concatenated blocks, if they split."""
    producer = flow.index.producer
    roots = sorted({producer[r] for r in packing.roots if r in producer}, key=flow.rank.__getitem__)
    if len(roots) >= 2:
        masks = head_masks(flow, roots)
        branches = split_branches(flow, masks, (1 << len(roots)) - 1)
        if len(branches) >= 2:
            macs = packing.macs + sum(b.macs for b in branches)
            return Packed(packing, tuple(branches), tuple(roots), masks, macs)
    return Packed(packing, (), (), None, packing.macs)


def _candidates(
    flow: DataFlow, heads: list[int], tail: dict[int, int], classes: int
) -> list[tuple[str, set[int]]]:
    found: dict[str, set[int]] = {}
    light = LIGHT_SHARE * flow.total
    for position in flow.order:
        op = flow.op(position)
        if op not in ("Split", "Slice") or tail[position] > light:
            continue
        ranges = channel_chunks(flow, position)
        dims = flow.dims(flow.inputs(position)[0])
        if ranges is None or dims is None:
            continue
        edges = {e for r in ranges for e in r if 0 < e < dims[1]}
        found.setdefault(flow.inputs(position)[0], set()).update(edges)
    for head in heads:
        tensor = _stacked_scores(flow, head, classes)
        if tensor is not None:
            channels = (flow.dims(tensor) or (0, 0))[1]
            found.setdefault(tensor, set()).update(range(classes, channels, classes))
        for tensor, cuts in _before_final_layer(flow, head):
            found.setdefault(tensor, set()).update(cuts)
    return [(t, cuts) for t, cuts in found.items() if cuts]


def _before_final_layer(flow: DataFlow, head: int) -> list[tuple[str, set[int]]]:
    """Blocks that could meet in the head's final weighted layer (averaging folded into it):
    the last weighted layers before it, split by their groups or by their zero weight blocks."""
    final = _final_layer(flow, head)
    if final is None:
        return []
    found = []
    for position in _nearest_weighted(flow, final):
        node = flow.node(position)
        groups = int(attribute(node, "group", 1))  # type: ignore[call-overload]
        dims = flow.dims(node.output[0])
        if dims is None or len(dims) < 2:
            continue
        if node.op_type == "Conv" and 2 <= groups <= MAX_BLOCKS:
            cuts: set[int] | None = set(range(dims[1] // groups, dims[1], dims[1] // groups))
        else:
            mask = weight_mask(flow, position)
            cuts = block_cuts(mask) if mask is not None and mask.shape[0] == dims[1] else None
        if cuts:
            found.append((_meeting_tensor(flow, final, dims[1]) or str(node.output[0]), cuts))
    return found


def _meeting_tensor(flow: DataFlow, final: int, channels: int) -> str | None:
    """The final layer's data input when it has the same channels (the blocks then run up to
    the layer where they meet)."""
    inputs = flow.data_inputs(final)
    dims = flow.dims(inputs[0]) if inputs else None
    return inputs[0] if dims is not None and len(dims) >= 2 and dims[1] == channels else None


def _final_layer(flow: DataFlow, head: int) -> int | None:
    position: int | None = head
    for _ in range(8):
        if position is None or flow.weighted(position):
            return position
        parents = flow.parents[position]
        position = parents[0] if len(parents) == 1 and flow.op(position) in _TO_HEAD else None
    return None


def _nearest_weighted(flow: DataFlow, final: int, limit: int = 64) -> list[int]:
    """The weighted layers reached first going up from ``final`` through channel-wise ops."""
    found: list[int] = []
    stack, seen = list(flow.parents[final]), set[int]()
    while stack and len(seen) < limit:
        position = stack.pop()
        if position in seen:
            continue
        seen.add(position)
        if flow.weighted(position):
            found.append(position)
        elif flow.op(position) in PER_CHANNEL or flow.op(position) in UNIT_RESHAPES:
            stack.extend(flow.parents[position])
    return found[:4]


def _stacked_scores(flow: DataFlow, head: int, classes: int) -> str | None:
    """Walk up from a head through reshapes and reductions to the weighted layer that made it;
    its output if that holds several class-score blocks in its channels."""
    position: int | None = head
    for _ in range(8):
        if position is None:
            return None
        node = flow.node(position)
        if flow.weighted(position):
            dims = flow.dims(node.output[0])
            if dims and len(dims) >= 2 and dims[1] % classes == 0 and dims[1] >= 2 * classes:
                return str(node.output[0])
            return None
        parents = flow.parents[position]
        if node.op_type not in _TO_HEAD or len(parents) != 1:
            return None
        position = parents[0]
    return None
