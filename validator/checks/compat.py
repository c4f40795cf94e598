"""The compatibility rules: ``opset`` (loadable by the official environment) and ``operators``
(standard domain only, no data-dependent control flow)."""

from __future__ import annotations

from validator.checks.context import Context
from validator.checks.hints import opset_hint
from validator.checks.registry import Stage, register
from validator.findings import Finding
from validator.loading.model import iter_graphs
from validator.vocab import CheckId

_STANDARD_DOMAINS = frozenset({"", "ai.onnx"})
_CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def default_opset(ctx: Context) -> int | None:
    """The model's opset for the default ONNX domain."""
    return next(
        (o.version for o in ctx.model.proto.opset_import if o.domain in _STANDARD_DOMAINS), None
    )


@register(CheckId.OPSET, "opset loadable by the official environment", Stage.STATIC)
def check_opset(ctx: Context) -> Finding:
    opset, limit = default_opset(ctx), ctx.profile.max_opset
    if opset is None:
        return ctx.verdict(CheckId.OPSET, False, "the model imports no default-domain opset")
    ok = opset <= limit
    message = (
        f"opset {opset} {'<=' if ok else '>'} {limit} "
        f"(onnxruntime 1.10 of the official environment loads opsets up to {limit})"
    )
    details: dict[str, object] = {}
    if not ok:
        message += f"; fix: {opset_hint(limit)}"
        details["hints"] = [opset_hint(limit)]
    return ctx.verdict(CheckId.OPSET, ok, message, opset, limit, details)


@register(CheckId.OPERATORS, "standard operators, no data-dependent control flow", Stage.STATIC)
def check_operators(ctx: Context) -> Finding:
    custom: dict[str, list[str]] = {}
    control: list[str] = []
    for graph, _ in iter_graphs(ctx.model.proto.graph):
        for i, node in enumerate(graph.node):
            where = node.name or f"{node.op_type}#{i}"
            if node.domain not in _STANDARD_DOMAINS:
                custom.setdefault(f"{node.domain}.{node.op_type}", []).append(where)
            elif node.op_type in _CONTROL_FLOW:
                control.append(f"{where} ({node.op_type})")
    problems = [f"{op} at {', '.join(w[:3])}" for op, w in sorted(custom.items())]
    if control:
        problems.append(f"data-dependent control flow at {', '.join(control[:5])}")
    details = {"custom_ops": custom, "control_flow": control}
    if problems:
        return ctx.verdict(CheckId.OPERATORS, False, "; ".join(problems), details=details)
    ops = len({n.op_type for n in ctx.model.proto.graph.node})
    return ctx.verdict(
        CheckId.OPERATORS, True, f"{ops} standard operator types, no control flow", details=details
    )
