"""The budget rules: ``params``, ``file-size`` and ``flops`` (multiply-adds)."""

from __future__ import annotations

from validator.checks.context import Context
from validator.checks.hints import layers_of, params_hint
from validator.checks.platform_conversion import macs_measurement, platform_note
from validator.checks.registry import Stage, register
from validator.findings import Finding, Status
from validator.graph.analysis import top_ops
from validator.graph.index import GraphIndex
from validator.graph.params import ParamCount
from validator.units import si, size_bytes
from validator.vocab import CheckId, MacsConvention

_MATRIX_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum"})
_TOP_LAYERS = 10  # layers named in the params evidence


@register(CheckId.PARAMS, "effective parameters under the budget", Stage.STATIC)
def check_params(ctx: Context) -> Finding:
    params, limit = ctx.analysis.params, ctx.profile.max_params
    index = ctx.analysis.index
    largest = sorted(params.tensors.items(), key=lambda kv: -kv[1])[:5]
    layers = {index.describe(p): n for p, n in params.by_layer()[:_TOP_LAYERS]}
    details = {
        "largest_tensors": dict(largest),
        "tensors": len(params.tensors),
        "heaviest_layers": layers,
        "tensor_layers": {name: layers_of(index, name) for name, _ in largest},
    }
    ok = params.total < limit  # the official checker tests params < 30e6
    relation = "<" if ok else ">="
    message = (
        f"{params.total:,} parameters ({si(params.total)}) {relation} limit {limit:,}"
        f" (float constants feeding weights; BatchNorm statistics and scalars excluded)"
    )
    if not ok:
        over = params.total - limit
        message += f"; {over:,} over the limit; heaviest layers: " + ", ".join(
            _layer_text(index, position, n, params) for position, n in params.by_layer()[:3]
        )
        message += f"; fix: {params_hint(over)}"
        details["hints"] = [params_hint(over)]
    return ctx.verdict(CheckId.PARAMS, ok, message, params.total, limit, details)


def _layer_text(index: GraphIndex, position: int, count: int, params: ParamCount) -> str:
    """``name (OpType) 1,234 (tensor, ...)``: a layer, its parameters and its largest tensors."""
    own = sorted((n, t) for t, n in params.tensors.items() if params.owners.get(t) == position)
    names = ", ".join(t for _, t in sorted(own, key=lambda nt: -nt[0])[:2])
    return f"{index.describe(position)} {count:,} ({names})"


@register(CheckId.FILE_SIZE, "model file plus external data under the size limit", Stage.STATIC)
def check_file_size(ctx: Context) -> Finding:
    total, limit = ctx.model.total_bytes, ctx.profile.max_file_bytes
    ok = total <= limit
    external = ctx.model.external_data_bytes
    extra = (
        f" ({size_bytes(ctx.model.file_bytes)} + {size_bytes(external)} external)"
        if external
        else ""
    )
    relation = "<=" if ok else ">"
    message = f"{size_bytes(total)}{extra} {relation} limit {size_bytes(limit)} (1 MB = 10^6 bytes)"
    details = {"file_bytes": ctx.model.file_bytes, "external_data_bytes": external}
    return ctx.verdict(CheckId.FILE_SIZE, ok, message, total, limit, details)


@register(CheckId.FLOPS, "multiply-adds per image under the budget", Stage.STATIC)
def check_flops(ctx: Context) -> Finding:
    tally, convention = ctx.analysis.macs, ctx.profile.macs_convention
    macs, limit = tally.total[convention], ctx.profile.max_macs
    if convention is MacsConvention.PLATFORM and ctx.platform.macs is None:
        message = "no platform figure: the organizers' converter cannot convert this model"
        return ctx.finding(CheckId.FLOPS, Status.ERROR, message, _flops_details(ctx, []))
    ok = macs < limit  # the official checker tests flops < 5e9
    message = (
        f"{si(macs)} multiply-adds ({convention.value} convention, batch 1, "
        f"{ctx.profile.input_size}x{ctx.profile.input_size}) {'<' if ok else '>='} {si(limit)}"
    )
    if not ok:
        message += f"; {si(macs - limit)} over the limit; heaviest op types: " + ", ".join(
            f"{op} {si(n)}" for op, n in list(top_ops(tally, convention))[:3]
        )
        message += "; heaviest nodes: " + ", ".join(
            f"{name} {si(n)}" for name, n in tally.top_nodes(convention)[:3]
        )
    if convention is not MacsConvention.PLATFORM:
        message += f"; {platform_note(ctx)}"
    notes = list(tally.notes) + _scaling_note(ctx)
    details = _flops_details(ctx, notes)
    heavy_unknown = [n for n in tally.uncounted if n.rsplit(" (", 1)[-1][:-1] in _MATRIX_OPS]
    if tally.uncounted:
        message += (
            f"; {len(tally.uncounted)} nodes not counted (unknown shapes or custom operators;"
            " a lower bound): " + ", ".join(tally.uncounted[:3])
        )
    if notes:
        message += "; " + "; ".join(notes)
    if heavy_unknown and ok:
        return ctx.finding(CheckId.FLOPS, Status.ERROR, message, details)
    return ctx.verdict(CheckId.FLOPS, ok, message, macs, limit, details)


def _flops_details(ctx: Context, notes: list[str]) -> dict[str, object]:
    tally = ctx.analysis.macs
    by_op = {
        op: {c.value: counts[c] for c in MacsConvention} | {"nodes": tally.nodes_by_op[op]}
        for op, counts in sorted(tally.by_op.items(), key=lambda kv: -kv[1][MacsConvention.FULL])
    }
    return {
        "convention": ctx.profile.macs_convention.value,
        "macs": macs_measurement(ctx),
        "by_op": by_op,
        "heaviest_nodes": dict(tally.top_nodes(ctx.profile.macs_convention)),
        "uncounted_nodes": tally.uncounted[:50],
        "notes": notes,
    }


def _scaling_note(ctx: Context) -> list[str]:
    second = ctx.macs_batch2
    if second is None:
        return []
    one = ctx.analysis.macs.total[MacsConvention.FULL]
    two = second.total[MacsConvention.FULL]
    if one and abs(two - 2 * one) > 0.001 * 2 * one:
        return [f"cost does not scale with the batch (N=2 costs {two / one:.3f}x N=1)"]
    return []
