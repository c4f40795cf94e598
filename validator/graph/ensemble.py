"""Is the model one network, several networks fused (an ensemble), or one network applied to
several views of its input (multi-view, e.g. flip test-time augmentation)?

Decided from the data-flow graph alone, never from names:

1. *Branches*: each minimal class-sized head (see heads.py) marks the nodes feeding it. Heads
   whose feeding networks overlap only in what they all share (the input, a stem) are separate
   branches; the split counts when at least two branches carry real work and together hold at
   least half of the multiply-adds before the heads.
2. *Packing*: when the heads do not split, a tensor whose channel blocks are fused at the end is
   tested for blocks that never mix upstream (packing.py): two networks in grouped convolutions.
3. *Batch views*: a Concat along the batch axis of views of the input, before any real work.

Branches whose weight tensors are the same (by tensor, or by value when the file has weights;
see weight_sharing.py) are one model seen through several views; two or more distinct models is
an ensemble.
"""

from __future__ import annotations

import itertools

from validator.graph.analysis import GraphAnalysis, paused_gc
from validator.graph.dataflow import DataFlow, Tables, attribute, build_dataflow, build_tables
from validator.graph.evidence import EnsembleEvidence, EnsembleVerdict, Member
from validator.graph.fusion import (
    Fusion,
    batch_fold,
    batch_views,
    describe_fusion,
    describe_tail,
    member_view,
)
from validator.graph.heads import (
    Branch,
    Masks,
    common_work,
    head_masks,
    lead_work,
    minimal_heads,
    split_branches,
    tail_work,
)
from validator.graph.packed_search import Packed, find_packing
from validator.graph.weight_sharing import architecture_note, weight_groups, weight_roots
from validator.vocab import MacsConvention

__all__ = ["EnsembleEvidence", "EnsembleVerdict", "Member", "detect_ensemble"]

MAX_HEADS = 64  # more class-sized heads than this is not a classifier ensemble


_RANK = {EnsembleVerdict.SINGLE: 0, EnsembleVerdict.MULTI_VIEW: 1, EnsembleVerdict.ENSEMBLE: 2}


def detect_ensemble(
    analysis: GraphAnalysis, classes: int, convention: MacsConvention
) -> EnsembleEvidence:
    """Analyse every graph output (the most serious verdict wins). ``classes`` is used when the
    output's size cannot be inferred."""
    outputs = [o.name for o in analysis.index.graph.output][:8]
    with paused_gc():
        tables = build_tables(analysis)
        results = [_detect(tables, name, classes, convention) for name in outputs]
    if not results:
        return EnsembleEvidence(EnsembleVerdict.SINGLE, "the graph has no output")
    return max(results, key=lambda e: _RANK[e.verdict])


def _detect(
    tables: Tables, output: str, classes: int, convention: MacsConvention
) -> EnsembleEvidence:
    flow = build_dataflow(tables, output, convention)
    if not flow.order:
        return EnsembleEvidence(
            EnsembleVerdict.SINGLE, f"output {output!r} does not depend on the input", output=output
        )
    classes = flow.numel(output) or classes
    tail = tail_work(flow)
    heads = minimal_heads(flow, classes, tail)[:MAX_HEADS]
    masks = head_masks(flow, heads)
    branches = split_branches(flow, masks, (1 << len(heads)) - 1) if heads else []
    if len(branches) >= 2:
        return _from_branches(flow, heads, masks, branches)
    packing = find_packing(flow, heads, tail, classes)
    if packing is not None:
        return _from_packing(flow, packing)
    views = batch_views(flow, lead_work(flow))
    if views is not None:
        return _from_batch(flow, *views)
    return _single(flow, heads, masks)


def _from_branches(
    flow: DataFlow, heads: list[int], masks: Masks, branches: list[Branch]
) -> EnsembleEvidence:
    groups = [[heads[i] for i in range(len(heads)) if b.heads >> i & 1] for b in branches]
    roots = [weight_roots(flow, b.nodes) for b in branches]
    models = weight_groups(flow, roots)
    members = tuple(
        _member(flow, b, g, m) for b, g, m in zip(branches, groups, models, strict=True)
    )
    fusion = describe_fusion(flow, groups, masks)
    shared = 1 - sum(m.share for m in members) - _tail_share(flow, masks)
    distinct = len(set(models))
    verdict = EnsembleVerdict.ENSEMBLE if distinct >= 2 else EnsembleVerdict.MULTI_VIEW
    if verdict is EnsembleVerdict.ENSEMBLE:
        reason = (
            f"{len(members)} branches run side by side with {distinct} distinct sets of weights "
            "and meet only after their class-sized outputs"
        )
    else:
        reason = f"{len(members)} branches run the same weights on different views of the input"
    return EnsembleEvidence(
        verdict,
        reason + architecture_note(flow, roots, models),
        members,
        fusion,
        flow.total,
        max(shared, 0.0),
        flow.output,
    )


def _tail_share(flow: DataFlow, masks: Masks) -> float:
    return masks.work.get(0, 0) / flow.total if flow.total else 0.0


def _member(flow: DataFlow, branch: Branch, heads: list[int], model: int) -> Member:
    inside = set(branch.nodes)
    entries = [p for p in branch.nodes if not any(q in inside for q in flow.parents[p])]
    share = branch.macs / flow.total if flow.total else 0.0
    view = member_view(flow, entries[0]) if entries else "unknown"
    return Member(
        tuple(flow.name(p) for p in entries[:3]),
        tuple(flow.name(h) for h in heads),
        branch.macs,
        share,
        branch.weighted,
        model,
        view,
    )


def _from_packing(flow: DataFlow, packed: Packed) -> EnsembleEvidence:
    packing = packed.packing
    producer = flow.index.producer[packing.tensor]
    end = flow.name(producer)
    fusion = describe_tail(flow, producer)
    if packed.branches:
        return _from_concatenated_blocks(flow, packed, end, fusion)
    bounds, channels = packing.bounds, packing.bounds[-1] or 1
    starts = tuple(flow.name(p) for p in packing.starts[:3])
    layers = sum(1 for p in packing.nodes if flow.weighted(p))
    members = tuple(
        Member(
            starts,
            (f"{end} channels {a}-{b - 1}",),
            packing.macs * (b - a) // channels,
            packing.macs * (b - a) / channels / flow.total,
            layers,
            i + 1,
            f"channel block {i + 1} of every grouped layer",
        )
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    )
    dense = sum(1 for p in packing.nodes if flow.weighted(p) and _dense(flow, p))
    grouped = sum(1 for p in packing.nodes if flow.weighted(p)) - dense
    how = ", ".join(
        [f"{grouped} grouped convolutions"] * bool(grouped)
        + [f"{dense} dense layers whose weights between the blocks are exactly zero"] * bool(dense)
    )
    reason = (
        f"{len(members)} networks packed side by side in the channels of {end!r}: from "
        f"{starts[0]!r} on, every layer keeps the channel blocks apart ({how}), "
        f"{packing.macs / flow.total:.0%} of the multiply-adds"
    )
    shared = 1 - packing.macs / flow.total if flow.total else 0.0
    return EnsembleEvidence(
        EnsembleVerdict.ENSEMBLE, reason, members, fusion, flow.total, max(shared, 0.0), flow.output
    )


def _dense(flow: DataFlow, position: int) -> bool:
    node = flow.node(position)
    return node.op_type != "Conv" or int(attribute(node, "group", 1)) == 1  # type: ignore[call-overload]


def _from_concatenated_blocks(
    flow: DataFlow, packed: Packed, end: str, fusion: Fusion
) -> EnsembleEvidence:
    """Separate networks whose features are concatenated into layers that keep them apart."""
    roots = list(packed.roots)
    groups = [[roots[i] for i in range(len(roots)) if b.heads >> i & 1] for b in packed.branches]
    weights = [weight_roots(flow, b.nodes) for b in packed.branches]
    models = weight_groups(flow, weights)
    members = tuple(
        _member(flow, b, g, m) for b, g, m in zip(packed.branches, groups, models, strict=True)
    )
    verdict = EnsembleVerdict.ENSEMBLE if len(set(models)) >= 2 else EnsembleVerdict.MULTI_VIEW
    reason = (
        f"{len(members)} separate networks are concatenated along channels and grouped layers "
        f"keep them apart up to {end!r} ({packed.packing.macs / flow.total:.0%} of the "
        "multiply-adds in the grouped layers): separate classifiers in one tensor"
    )
    shared = 1 - packed.macs / flow.total if flow.total else 0.0
    return EnsembleEvidence(
        verdict, reason, members, fusion, flow.total, max(shared, 0.0), flow.output
    )


def _from_batch(flow: DataFlow, concat: int, views: list[str]) -> EnsembleEvidence:
    name = flow.name(concat)
    fold = batch_fold(flow, concat)
    ends = (flow.name(fold),) if fold is not None else (flow.output,)
    layers = sum(1 for p in flow.order if flow.weighted(p))
    members = tuple(
        Member((name,), ends, flow.total // len(views), 1 / len(views), layers, 1, view)
        for view in views
    )
    reason = (
        f"the input is stacked along the batch axis in {len(views)} views at Concat {name!r}"
        " and one network runs on all of them"
    )
    tail = describe_tail(flow, fold if fold is not None else concat, inclusive=True)
    fusion = Fusion((name, *tail.nodes), tail.ops, f"views stacked in the batch; {tail.kind}")
    return EnsembleEvidence(
        EnsembleVerdict.MULTI_VIEW, reason, members, fusion, flow.total, 0.0, flow.output
    )


def _single(flow: DataFlow, heads: list[int], masks: Masks) -> EnsembleEvidence:
    notes: tuple[str, ...] = ()
    if not heads:
        reason = "no class-sized output found before the end; one network"
    elif len(heads) == 1:
        reason = f"one classifier head ({flow.name(heads[0])!r}) fed by one network"
        notes = _feature_fusion(flow, heads[0])
    else:
        everything = (1 << len(heads)) - 1
        shared = common_work(masks, everything) / flow.total if flow.total else 0.0
        reason = (
            f"{len(heads)} class-sized heads share one trunk ({shared:.0%} of the "
            "multiply-adds feed all of them): one network with several heads"
        )
    return EnsembleEvidence(
        EnsembleVerdict.SINGLE, reason, total_macs=flow.total, output=flow.output, notes=notes
    )


_TO_FEATURES = frozenset(
    {"Flatten", "Reshape", "Squeeze", "Dropout", "Identity", "GlobalAveragePool", "Relu"}
)


def _feature_fusion(flow: DataFlow, head: int) -> tuple[str, ...]:
    """A note when the one classifier reads a Concat of separate feature extractors (late
    feature fusion: not an ensemble of classifiers, but worth a look)."""
    position = flow.parents[head][0] if len(flow.parents[head]) == 1 else None
    while position is not None and flow.op(position) in _TO_FEATURES:
        parents = flow.parents[position]
        position = parents[0] if len(parents) == 1 else None
    if position is None or flow.op(position) != "Concat" or len(flow.parents[position]) < 2:
        return ()
    parts = flow.parents[position]
    branches = split_branches(flow, head_masks(flow, parts), (1 << len(parts)) - 1)
    if len(branches) < 2:
        return ()
    shares = ", ".join(f"{b.macs / flow.total:.0%}" for b in branches)
    return (
        f"{len(branches)} separate feature extractors ({shares} of the multiply-adds) are "
        f"concatenated at {flow.name(position)!r} before the one classifier: late feature "
        "fusion, not counted as an ensemble",
    )
