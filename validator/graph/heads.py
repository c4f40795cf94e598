"""Class-sized heads and the branches that feed them.

A *head* is the first tensor on its path with exactly one image's worth of class scores
(``classes`` elements at batch 1) and only light work between it and the output: a classifier's
logits. A *minimal* head has no other head upstream (so a stacking Gemm over member logits, or the
OneHot of a vote, is not a head of its own). Every data node gets a bitmask of the minimal heads it
feeds; heads whose feeding networks overlap beyond what all of them share are one branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from validator.graph.dataflow import DataFlow

LIGHT_SHARE = 0.02  # work after a head (the fusion) must stay under this share of the total
MEMBER_SHARE = 0.002  # a branch smaller than this is reported but is not a member on its own
MEMBER_LAYERS = 2  # nor is a branch with fewer weighted layers (a linear side path)
SPLIT_SHARE = 0.5  # separate branches must hold at least this share of the work before heads


@dataclass(frozen=True)
class Branch:
    """Nodes that feed exactly the heads in ``heads`` (a bitmask) and no other head of the set."""

    heads: int
    nodes: tuple[int, ...]
    macs: int
    weighted: int


def tail_work(flow: DataFlow) -> dict[int, int]:
    """For each node, the heaviest path of work strictly after it up to the output."""
    tail: dict[int, int] = {}
    for position in reversed(flow.order):
        tail[position] = max((tail[c] + flow.macs[c] for c in flow.children[position]), default=0)
    return tail


def lead_work(flow: DataFlow) -> dict[int, int]:
    """For each node, the heaviest path of work strictly before it from the inputs."""
    lead: dict[int, int] = {}
    for position in flow.order:
        lead[position] = max((lead[p] + flow.macs[p] for p in flow.parents[position]), default=0)
    return lead


def minimal_heads(flow: DataFlow, classes: int, tail: dict[int, int]) -> list[int]:
    """Positions of the nodes producing minimal heads, in topological order."""
    light = LIGHT_SHARE * flow.total
    below: dict[int, bool] = {}  # a head sits at or upstream of the node
    heads = []
    for position in flow.order:
        upstream = any(below[p] for p in flow.parents[position])
        is_head = tail[position] <= light and _first_class_sized(flow, position, classes)
        if is_head and not upstream:
            heads.append(position)
        below[position] = upstream or is_head
    return heads


def _first_class_sized(flow: DataFlow, position: int, classes: int) -> bool:
    outputs = flow.outputs(position)
    if not outputs or flow.numel(outputs[0]) != classes:
        return False
    sizes = [flow.numel(n) for n in flow.data_inputs(position)]
    return any(s is not None and s != classes for s in sizes)


@dataclass
class Masks:
    """For each node, the bitmask of the heads it feeds (bit i = ``heads[i]``; 0 for nodes after
    the heads), and the nodes grouped by mask (few distinct masks, so grouping work is cheap)."""

    of: dict[int, int]
    by_mask: dict[int, list[int]]  # positions in topological order
    work: dict[int, int]
    weighted: dict[int, int]


def head_masks(flow: DataFlow, heads: list[int]) -> Masks:
    """The head masks of every node, in one backward pass."""
    bit = {position: 1 << i for i, position in enumerate(heads)}
    masks: dict[int, int] = {}
    for position in reversed(flow.order):
        mask = bit.get(position, 0)
        for child in flow.children[position]:
            mask |= masks[child]
        masks[position] = mask
    result = Masks(masks, {}, {}, {})
    for position in flow.order:
        mask = masks[position]
        result.by_mask.setdefault(mask, []).append(position)
        result.work[mask] = result.work.get(mask, 0) + flow.macs[position]
        result.weighted[mask] = result.weighted.get(mask, 0) + flow.weighted(position)
    return result


def split_branches(
    flow: DataFlow, masks: Masks, heads: int, within: int | None = None
) -> list[Branch]:
    """The branches among ``heads`` (a bitmask): separate networks that meet only after their
    heads. Returns one branch per member, or a single branch when the heads share most work.
    A branch holds the nodes feeding its heads and no other head of ``within`` (the enclosing
    set; by default ``heads`` itself, so a single branch holds everything feeding it)."""
    enclosing = heads if within is None else within
    groups = _groups(masks, heads)
    if len(groups) >= 2:
        parts = [_branch(flow, masks, heads, g) for g in groups]
        cone = sum(w for m, w in masks.work.items() if m & heads)
        members = [b for b in parts if _significant(flow, b)]
        if len(members) >= 2 and sum(b.macs for b in parts) >= SPLIT_SHARE * cone:
            return [b for g in groups for b in split_branches(flow, masks, g, heads)]
    return [_branch(flow, masks, enclosing, heads)]


def common_work(masks: Masks, heads: int) -> int:
    """Multiply-adds of the nodes that feed every head in ``heads``."""
    return sum(w for m, w in masks.work.items() if m & heads == heads)


def _significant(flow: DataFlow, branch: Branch) -> bool:
    return branch.weighted >= MEMBER_LAYERS and branch.macs >= MEMBER_SHARE * flow.total


def _groups(masks: Masks, heads: int) -> list[int]:
    """Connected groups of heads: two heads join when some node feeds both but not all."""
    parent = {b: b for b in _bits(heads)}

    def find(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for mask in {m & heads for m in masks.by_mask}:
        if mask and mask != heads and mask & (mask - 1):
            bits = _bits(mask)
            for other in bits[1:]:
                parent[find(other)] = find(bits[0])
    groups: dict[int, int] = {}
    for b in parent:
        groups[find(b)] = groups.get(find(b), 0) | b
    return sorted(groups.values())


def _bits(mask: int) -> list[int]:
    return [1 << i for i in range(mask.bit_length()) if mask >> i & 1]


def _branch(flow: DataFlow, masks: Masks, within: int, group: int) -> Branch:
    """Nodes feeding some head of ``group`` and no head of ``within`` outside it."""
    chosen = [m for m in masks.by_mask if m & group and not m & within & ~group]
    nodes = sorted((p for m in chosen for p in masks.by_mask[m]), key=flow.rank.__getitem__)
    return Branch(
        group,
        tuple(nodes),
        sum(masks.work[m] for m in chosen),
        sum(masks.weighted[m] for m in chosen),
    )
