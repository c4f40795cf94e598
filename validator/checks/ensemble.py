"""The ``ensemble`` rule: one network, not several separately built ones fused at the end.

The analysis (validator/graph/ensemble.py) reads the graph only. ``ensemble`` fails the model;
``multi-view`` (one set of weights on several views of the input, e.g. flip test-time
augmentation) is one model, so it is a warning, not a failure.
"""

from __future__ import annotations

from typing import Any

import onnx.inliner

from validator.checks.context import Context
from validator.checks.registry import Stage, register
from validator.findings import Finding, Status
from validator.graph.analysis import analyse
from validator.graph.ensemble import EnsembleEvidence, EnsembleVerdict, Member, detect_ensemble
from validator.units import si
from validator.vocab import CheckId

_SHOWN_MEMBERS = 6


def ensemble_evidence(ctx: Context) -> EnsembleEvidence:
    """The ensemble analysis of ``ctx``'s model, computed once per validation run."""
    return ctx.cached("ensemble", lambda: _detect(ctx))


def _detect(ctx: Context) -> EnsembleEvidence:
    analysis = ctx.analysis
    if ctx.model.proto.functions:  # members could hide inside model-local functions
        inlined = onnx.inliner.inline_local_functions(ctx.model.proto)
        analysis = analyse(inlined, batch=1, size=ctx.profile.input_size)
    return detect_ensemble(analysis, ctx.profile.num_classes, ctx.profile.macs_convention)


def ensemble_measurement(ctx: Context) -> dict[str, Any] | None:
    """REPORT.md's ``measurements.ensemble`` (None when the graph could not be analysed)."""
    try:
        return ensemble_evidence(ctx).to_dict()
    except MemoryError:
        raise
    except Exception:  # the check itself reports the failure; measurements stay best effort
        return None


@register(CheckId.ENSEMBLE, "one network, not an ensemble of separately built models", Stage.STATIC)
def check_ensemble(ctx: Context) -> Finding:
    evidence = ensemble_evidence(ctx)
    details = evidence.to_dict()
    message = describe(evidence)
    if evidence.verdict is EnsembleVerdict.MULTI_VIEW:
        return ctx.finding(CheckId.ENSEMBLE, Status.WARN, message, details)
    ok = evidence.verdict is EnsembleVerdict.SINGLE
    return ctx.verdict(
        CheckId.ENSEMBLE, ok, message, measured=evidence.models, limit=1, details=details
    )


def describe(evidence: EnsembleEvidence) -> str:
    """One message a person can check against the graph: verdict, members, fusion, why."""
    if evidence.verdict is EnsembleVerdict.SINGLE:
        return "; ".join([f"single network: {evidence.reason}", *evidence.notes])
    if evidence.verdict is EnsembleVerdict.ENSEMBLE:
        head = f"ensemble of {evidence.models} models"
    else:
        head = "multi-view (one model; a warning, not a failure)"
    parts = [head + ": " + evidence.reason]
    shown = evidence.members[:_SHOWN_MEMBERS]
    parts += [_member_text(i + 1, m, evidence) for i, m in enumerate(shown)]
    if len(evidence.members) > len(shown):
        parts.append(f"... and {len(evidence.members) - len(shown)} more members")
    if evidence.fusion is not None:
        where = ", ".join(repr(n) for n in evidence.fusion.nodes) or "the output"
        parts.append(
            f"fused at {where} ({' -> '.join(evidence.fusion.ops)}): {evidence.fusion.kind}"
        )
    if evidence.shared_share >= 0.005:
        parts.append(f"work shared before the branches: {evidence.shared_share:.0%}")
    return "; ".join(parts)


def _member_text(number: int, member: Member, evidence: EnsembleEvidence) -> str:
    label = "view" if evidence.verdict is EnsembleVerdict.MULTI_VIEW else "member"
    model = f" (model {member.model})" if evidence.models > 1 else ""
    start = member.starts[0] if member.starts else "?"
    end = member.ends[0] if member.ends else "?"
    return (
        f"{label} {number}{model}: {start!r} .. {end!r}, {member.share:.0%} of the "
        f"multiply-adds ({si(member.macs)}), {member.layers} weighted layers, reads "
        f"{member.view}"
    )
