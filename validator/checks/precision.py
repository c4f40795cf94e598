"""The ``fp32`` rule: weights, inputs, outputs and computation are all float32."""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from validator.checks.context import Context
from validator.checks.hints import Hint, layers_of, with_layer
from validator.checks.registry import Stage, register
from validator.findings import Finding
from validator.graph.index import GraphIndex
from validator.loading.model import iter_tensors
from validator.loading.tensors import FLOAT_TYPES, type_name
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
_SHOW = 3  # examples per kind in the one-line message
_DETAIL = 50  # names per kind in details


@register(CheckId.FP32, "every weight, input, output and computation is float32", Stage.STATIC)
def check_fp32(ctx: Context) -> Finding:
    found = _Problems()
    index = ctx.analysis.index
    for tensor in ctx.model.tensors or iter_tensors(ctx.model.proto):
        if tensor.data_type in FLOAT_TYPES and tensor.data_type != T.FLOAT:
            found.tensor(f"{type_name(tensor.data_type)} weights", tensor.name, tensor.data_type)
    for name, shape in ctx.analysis.shapes.items():
        if shape.elem_type in FLOAT_TYPES and shape.elem_type != T.FLOAT:
            found.tensor(f"{type_name(shape.elem_type)} tensors", name, shape.elem_type)
    for position in index.order:
        op = index.ops[position]
        if op in _QUANTIZED_OPS:
            found.node("quantisation nodes", index, position, Hint.QUANTISED)
        elif op == "Cast":
            node = index.nodes[position]
            to = next((a.i for a in node.attribute if a.name == "to"), T.FLOAT)
            if to in _LOW_PRECISION:
                found.node(f"casts to {type_name(to)}", index, position, Hint.for_type(to))
    if not found.names:
        return ctx.verdict(CheckId.FP32, True, "all weights, tensors and casts are float32")
    return ctx.verdict(CheckId.FP32, False, found.message(index), details=found.details(index))


@dataclass
class _Problems:
    """Offending tensors and nodes by kind (``float16 weights``), with the fix for each kind."""

    names: dict[str, list[str]] = field(default_factory=dict)  # kind -> tensor or node names
    nodes: dict[str, list[str]] = field(default_factory=dict)  # kind -> ``name (OpType)``
    hints: dict[str, Hint] = field(default_factory=dict)

    def tensor(self, kind: str, name: str, elem_type: int) -> None:
        self.names.setdefault(kind, []).append(name)
        self.hints[kind] = Hint.for_type(elem_type)

    def node(self, kind: str, index: GraphIndex, position: int, hint: Hint) -> None:
        self.names.setdefault(kind, []).append(index.node_name(position))
        self.nodes.setdefault(kind, []).append(index.describe(position))
        self.hints[kind] = hint

    def message(self, index: GraphIndex) -> str:
        """One line: each kind with a few examples and where they are used, then the fixes."""
        parts = []
        for kind, names in sorted(self.names.items()):
            shown = self.nodes.get(kind) or [with_layer(index, n) for n in names[:_SHOW]]
            parts.append(f"{len(names)} {kind} (e.g. {', '.join(shown[:_SHOW])})")
        fixes = "; ".join(f"fix: {hint.value}" for hint in self._fixes())
        return f"not FP32: {'; '.join(parts)}; {fixes}"

    def details(self, index: GraphIndex) -> dict[str, object]:
        """The names by kind (as before), the layers using each offending tensor, the fixes."""
        details: dict[str, object] = {k: v[:_DETAIL] for k, v in self.names.items()}
        consumers = {
            name: layers_of(index, name)
            for kind, names in sorted(self.names.items())
            if kind not in self.nodes
            for name in names[:_DETAIL]
        }
        nodes = [n for kind in sorted(self.nodes) for n in self.nodes[kind][:_DETAIL]]
        return details | {
            "consumers": consumers,
            "nodes": nodes,
            "hints": [hint.value for hint in self._fixes()],
        }

    def _fixes(self) -> list[Hint]:
        return list(dict.fromkeys(self.hints[kind] for kind in sorted(self.names)))
