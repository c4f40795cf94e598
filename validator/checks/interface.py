"""The ``input`` and ``output`` rules: what the platform feeds the model and reads back."""

from __future__ import annotations

import onnx

from validator.checks.context import Context
from validator.checks.registry import Stage, register
from validator.findings import Finding
from validator.loading.tensors import type_name
from validator.vocab import CheckId


def declared_dims(value: onnx.ValueInfoProto) -> list[int | str]:
    """Dims as declared: numbers, or the symbolic name ("?" when unnamed)."""
    return [
        int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
        for d in value.type.tensor_type.shape.dim
    ]


def describe(value: onnx.ValueInfoProto) -> dict[str, object]:
    """REPORT.md's ``{"name", "shape", "dtype"}`` for a graph input or output."""
    return {
        "name": value.name,
        "shape": declared_dims(value),
        "dtype": type_name(value.type.tensor_type.elem_type),
    }


@register(CheckId.INPUT, "one float32 input of shape N x 3 x S x S", Stage.STATIC)
def check_input(ctx: Context) -> Finding:
    inputs = ctx.analysis.index.inputs
    size = ctx.profile.input_size
    expected = f"N x 3 x {size} x {size} float32"
    if len(inputs) != 1:
        names = ", ".join(v.name for v in inputs) or "none"
        return ctx.verdict(
            CheckId.INPUT,
            False,
            f"{len(inputs)} graph inputs ({names}); expected exactly one, {expected}",
            measured=len(inputs),
            limit=1,
        )
    value = inputs[0]
    dims, dtype = declared_dims(value), type_name(value.type.tensor_type.elem_type)
    shown = f"input {value.name!r} is {' x '.join(map(str, dims))} {dtype}"
    problems = _input_problems(dims, dtype, size)
    details = {"input": describe(value)}
    if problems:
        message = f"{shown}; expected {expected}: {'; '.join(problems)}"
        return ctx.verdict(
            CheckId.INPUT, False, message, measured=" x ".join(map(str, dims)), details=details
        )
    return ctx.verdict(
        CheckId.INPUT,
        True,
        f"{shown} (channel order {ctx.profile.channel_order.value.upper()})",
        measured=" x ".join(map(str, dims)),
        details=details,
    )


def _input_problems(dims: list[int | str], dtype: str, size: int) -> list[str]:
    problems = []
    if dtype != "float32":
        problems.append(f"dtype is {dtype}")
    if len(dims) != 4:
        return [*problems, f"rank is {len(dims)}, not 4"]
    if dims[1:] == [size, size, 3]:
        return [*problems, "channels-last (NHWC) layout; the platform feeds NCHW"]
    if isinstance(dims[0], int) and dims[0] != 1:
        problems.append(f"batch fixed to {dims[0]}; use 1 or a symbolic N")
    for position, want in ((1, 3), (2, size), (3, size)):
        if dims[position] != want and isinstance(dims[position], int):
            problems.append(f"dim {position} is {dims[position]}, not {want}")
    return problems


@register(CheckId.OUTPUT, "output N x num_classes", Stage.STATIC)
def check_output(ctx: Context) -> Finding:
    outputs = list(ctx.analysis.index.graph.output)
    classes = ctx.profile.num_classes
    if len(outputs) != 1:
        names = ", ".join(o.name for o in outputs)
        return ctx.verdict(
            CheckId.OUTPUT,
            False,
            f"{len(outputs)} graph outputs ({names}); the platform reads one N x {classes} output",
            measured=len(outputs),
            limit=1,
        )
    value = outputs[0]
    declared = declared_dims(value)
    bad = [(i, d) for i, d in enumerate(declared) if isinstance(d, int) and d <= 0]
    if bad:  # no tensor has a zero or negative extent; onnxruntime would reject the output
        where = "; ".join(f"dim {i} is {d}" for i, d in bad)
        return ctx.verdict(
            CheckId.OUTPUT,
            False,
            f"output {value.name!r} declares {' x '.join(map(str, declared))}: {where} "
            "(every dim must be positive or symbolic)",
            measured=str(declared),
            details={"output": describe(value)},
        )
    inferred = ctx.analysis.shapes.get(value.name)
    inferred_dims = inferred.dims if inferred is not None and inferred.known else None
    details = {"output": describe(value), "inferred_at_batch_1": inferred_dims}
    dims: list[int | str] = (
        [int(d or 0) for d in inferred_dims] if inferred_dims else declared_dims(value)
    )
    shown = f"output {value.name!r} is {' x '.join(map(str, dims))} at batch 1"
    classes_seen = dims[-1] if dims else None
    ok = len(dims) == 2 and classes_seen == classes and (dims[0] == 1 or isinstance(dims[0], str))
    if not ok and len(dims) == 2 and isinstance(classes_seen, int):
        shown += f" ({classes_seen} classes)"
    return ctx.verdict(
        CheckId.OUTPUT,
        ok,
        f"{shown}; expected N x {classes} (profile {ctx.profile.name})",
        measured=classes_seen,
        limit=classes,
        details=details,
    )
