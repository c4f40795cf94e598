"""The ``fp32`` rule: weights, inputs, outputs and computation are all float32."""

from __future__ import annotations

import onnx

from validator.checks.context import Context
from validator.checks.registry import Stage, register
from validator.findings import Finding
from validator.model import iter_tensors
from validator.tensors import FLOAT_TYPES, type_name
from validator.vocab import CheckId

T = onnx.TensorProto
_QUANTIZED_OPS = frozenset(
    [
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "ConvInteger",
        "MatMulInteger",
        "QLinearAdd",
        "QLinearMul",
        "QGemm",
    ]
)
# Casting a value to one of these means computing in reduced precision (or quantising).
_LOW_PRECISION = frozenset(FLOAT_TYPES - {T.FLOAT}) | {T.INT8, T.UINT8, T.INT16, T.UINT16}
_SHOW = 5


@register(CheckId.FP32, "every weight, input, output and computation is float32", Stage.STATIC)
def check_fp32(ctx: Context) -> Finding:
    problems: dict[str, list[str]] = {}
    for tensor in iter_tensors(ctx.model.proto):
        if tensor.data_type in FLOAT_TYPES and tensor.data_type != T.FLOAT:
            problems.setdefault(f"{type_name(tensor.data_type)} weights", []).append(tensor.name)
    for name, shape in ctx.analysis.shapes.items():
        if shape.elem_type in FLOAT_TYPES and shape.elem_type != T.FLOAT:
            problems.setdefault(f"{type_name(shape.elem_type)} tensors", []).append(name)
    for position in ctx.analysis.index.order:
        node = ctx.analysis.index.nodes[position]
        where = ctx.analysis.index.node_name(position)
        if node.op_type in _QUANTIZED_OPS:
            problems.setdefault("quantisation nodes", []).append(where)
        elif node.op_type == "Cast":
            to = next((a.i for a in node.attribute if a.name == "to"), T.FLOAT)
            if to in _LOW_PRECISION:
                problems.setdefault(f"casts to {type_name(to)}", []).append(where)
    if not problems:
        return ctx.verdict(CheckId.FP32, True, "all weights, tensors and casts are float32")
    summary = "; ".join(
        f"{len(v)} {k} (e.g. {', '.join(v[:_SHOW])})" for k, v in sorted(problems.items())
    )
    details = {k: v[:50] for k, v in problems.items()}
    return ctx.verdict(CheckId.FP32, False, f"not FP32: {summary}", details=details)
