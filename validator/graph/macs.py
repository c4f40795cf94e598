"""Multiply-accumulate counts of one node under each convention.

``ptflops``: what ptflops 0.6.8 reports after the organizers converted the ONNX file back into
  PyTorch modules: Conv/ConvTranspose (+ bias, transposed convs over-counted by stride squared as
  ptflops does), BatchNorm/InstanceNorm/GroupNorm (2 per element), ReLU family and Gelu (1 per
  element), pooling (1 per input element), Linear = Gemm or MatMul with a constant weight
  (+ bias), Resize/Upsample (1 per output element). Nothing else: no LayerNorm, no Softmax, no
  element-wise ops, no MatMul between two activations (attention).
``torchvision``: multiplies of Conv, ConvTranspose, Gemm, MatMul and Einsum only, attention
  included (the figures in torchvision's model tables).
``full``: every node: matrix ops with their bias, norms 2 per element, every other computing node
  1 per output element (reductions and pooling 1 per input element); pure data movement is free.
``platform``: what the organizers' ONNX-to-PyTorch converter turns into counted modules
  (validator/graph/platform.py); whether it converts at all is decided over the whole graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import onnx

from validator.graph.platform import platform_node_macs
from validator.graph.shapes import TensorShape
from validator.vocab import MacsConvention

P, TV, FULL = MacsConvention.PTFLOPS, MacsConvention.TORCHVISION, MacsConvention.FULL


@dataclass(frozen=True)
class NodeView:
    """What a counting rule may see: the node, its tensor shapes, which inputs are constant."""

    node: onnx.NodeProto
    inputs: Sequence[TensorShape | None]
    outputs: Sequence[TensorShape | None]
    constant_inputs: Sequence[bool]

    def in_dims(self, i: int) -> tuple[int, ...] | None:
        return _dims(self.inputs, i)

    def out_dims(self, i: int = 0) -> tuple[int, ...] | None:
        return _dims(self.outputs, i)

    def attr(self, name: str, default: object = None) -> object:
        for a in self.node.attribute:
            if a.name == name:
                return onnx.helper.get_attribute_value(a)
        return default

    def has_input(self, i: int) -> bool:
        return len(self.node.input) > i and bool(self.node.input[i])


class Unknown(Exception):
    """A shape the rule needs is not known, or the op is a custom one without a rule; the
    node is reported as uncounted."""


Counts = dict[MacsConvention, int]


def _dims(shapes: Sequence[TensorShape | None], i: int) -> tuple[int, ...] | None:
    if i >= len(shapes) or shapes[i] is None or not shapes[i].known:  # type: ignore[union-attr]
        return None
    return tuple(int(d or 0) for d in shapes[i].dims or ())  # type: ignore[union-attr]


def _need(dims: tuple[int, ...] | None) -> tuple[int, ...]:
    if dims is None:
        raise Unknown
    return dims


def _counts(ptflops: int, torchvision: int, full: int) -> Counts:
    return {P: ptflops, TV: torchvision, FULL: full}


def _conv(v: NodeView) -> Counts:
    out, weight = _need(v.out_dims()), _need(v.in_dims(1))
    per_output = math.prod(weight[1:])  # (Cin / groups) * kernel
    mults = math.prod(out) * per_output
    bias = math.prod(out) if v.has_input(2) else 0
    return _counts(mults + bias, mults, mults + bias)


def _conv_transpose(v: NodeView) -> Counts:
    x, out, weight = _need(v.in_dims(0)), _need(v.out_dims()), _need(v.in_dims(1))
    true_mults = math.prod(x) * math.prod(weight[1:])  # each input pixel scatters a kernel
    bias = math.prod(out) if v.has_input(2) else 0
    # ptflops applies the Conv formula on the *output* grid: stride^2 more than the truth.
    ptflops = math.prod(weight) * out[0] * math.prod(out[2:])
    return _counts(ptflops + bias, true_mults, true_mults + bias)


def _gemm(v: NodeView) -> Counts:
    a, b = _need(v.in_dims(0)), _need(v.in_dims(1))
    m = a[1] if v.attr("transA", 0) else a[0]
    k = a[0] if v.attr("transA", 0) else a[1]
    n = b[0] if v.attr("transB", 0) else b[1]
    mults = m * k * n
    bias = m * n if v.has_input(2) else 0
    linear = any(v.constant_inputs[:2])
    return _counts(mults + bias if linear else 0, mults, mults + bias)


def _matmul(v: NodeView) -> Counts:
    a, out = _need(v.in_dims(0)), _need(v.out_dims())
    mults = math.prod(out) * (a[-1] if a else 1)
    linear = any(v.constant_inputs[:2])  # a weight: onnx2pytorch makes it an nn.Linear
    return _counts(mults if linear else 0, mults, mults)


def _einsum(v: NodeView) -> Counts:
    equation = v.attr("equation", b"")
    text = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(" ", "")
    inputs, _, output = text.partition("->")
    sizes: dict[str, int] = {}
    for i, term in enumerate(inputs.split(",")):
        dims = _need(v.in_dims(i))
        letters = term.replace("...", "")
        for letter, size in zip(
            letters[::-1], dims[::-1], strict=False
        ):  # ellipsis leads, letters trail
            sizes[letter] = max(sizes.get(letter, 1), size)
    out = _need(v.out_dims())
    broadcast = math.prod(out[: len(out) - len(output.replace("...", ""))])
    mults = math.prod(sizes.values()) * broadcast
    linear = any(v.constant_inputs)
    return _counts(mults if linear else 0, mults, mults)


def _remapped(
    rule: Callable[[NodeView], Counts], positions: tuple[int, ...]
) -> Callable[[NodeView], Counts]:
    """A quantised op counted as its float counterpart, whose inputs are ``positions`` of
    the quantised op's (x, weight, bias): quantising a layer does not make its work vanish."""

    def rule_for(v: NodeView) -> Counts:
        node = onnx.NodeProto()
        node.CopyFrom(v.node)
        names = [v.node.input[i] if i < len(v.node.input) else "" for i in positions]
        del node.input[:]
        node.input.extend(names)

        def pick(seq: Sequence[Any]) -> list[Any]:
            return [seq[i] if i < len(seq) else None for i in positions]

        constant = [bool(c) for c in pick(v.constant_inputs)]
        return rule(NodeView(node, pick(v.inputs), v.outputs, constant))

    return rule_for


def _per_output(ptflops_factor: int, full_factor: int) -> Callable[[NodeView], Counts]:
    def rule(v: NodeView) -> Counts:
        n = math.prod(_need(v.out_dims()))
        return _counts(ptflops_factor * n, 0, full_factor * n)

    return rule


def _per_input(ptflops_factor: int, full_factor: int) -> Callable[[NodeView], Counts]:
    def rule(v: NodeView) -> Counts:
        n = math.prod(_need(v.in_dims(0)))
        return _counts(ptflops_factor * n, 0, full_factor * n)

    return rule


def _clip(v: NodeView) -> Counts:
    # ReLU6 is exported as Clip(0, 6); ptflops counts it as a ReLU-family module.
    return _per_output(1, 1)(v)


# fmt: off
_FREE = frozenset({
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "Shape", "Size", "Constant", "ConstantOfShape",
    "Identity", "Cast", "CastLike", "Expand", "Tile", "Pad", "Dropout", "DepthToSpace",
    "SpaceToDepth", "Range", "EyeLike", "If", "Loop", "Scan", "Compress", "NonZero", "Trilu",
    "ScatterND", "ScatterElements", "OneHot", "SequenceConstruct", "SequenceAt",
    "SplitToSequence", "ConcatFromSequence", "Optional", "OptionalGetElement",
    "OptionalHasElement",
})
# fmt: on

RULES: Mapping[str, Callable[[NodeView], Counts]] = MappingProxyType(
    {
        "Conv": _conv,
        "ConvTranspose": _conv_transpose,
        "Gemm": _gemm,
        "MatMul": _matmul,
        "Einsum": _einsum,
        "BatchNormalization": _per_input(2, 2),
        "InstanceNormalization": _per_input(2, 2),
        "GroupNormalization": _per_input(2, 2),
        "LayerNormalization": _per_input(0, 2),
        "Relu": _per_output(1, 1),
        "LeakyRelu": _per_output(1, 1),
        "PRelu": _per_output(1, 1),
        "Elu": _per_output(1, 1),
        "Gelu": _per_output(1, 1),
        "Clip": _clip,
        "MaxPool": _per_input(1, 1),
        "AveragePool": _per_input(1, 1),
        "GlobalAveragePool": _per_input(1, 1),
        "GlobalMaxPool": _per_input(1, 1),
        "LpPool": _per_input(1, 1),
        "Resize": _per_output(1, 1),
        "Upsample": _per_output(1, 1),
        # quantised layers (onnxruntime's static and dynamic quantisation) and contrib fusions
        "ConvInteger": _remapped(_conv, (0, 1)),
        "MatMulInteger": _remapped(_matmul, (0, 1)),
        "QLinearConv": _remapped(_conv, (0, 3, 8)),
        "QLinearMatMul": _remapped(_matmul, (0, 3)),
        "QGemm": _remapped(_gemm, (0, 3, 6)),
        "FusedConv": _conv,
        "FusedGemm": _gemm,
        "FusedMatMul": _matmul,
        "DynamicQuantizeMatMul": _remapped(_matmul, (0, 1)),
        "MatMulIntegerToFloat": _remapped(_matmul, (0, 1)),
        "BiasGelu": _per_output(1, 1),
        "FastGelu": _per_output(1, 1),
        "QuickGelu": _per_output(1, 1),
    }
)

# fmt: off
_REDUCTIONS = frozenset({
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "TopK",
})
# fmt: on


def count_node(view: NodeView) -> Counts:
    """Multiply-adds of one node under every convention; raises Unknown for missing shapes."""
    counts = _count_local(view)
    counts[MacsConvention.PLATFORM] = platform_node_macs(view)
    return counts


def _count_local(view: NodeView) -> Counts:
    op = view.node.op_type
    rule = RULES.get(op)
    if rule is not None:
        return rule(view)
    if op in _FREE:
        return _counts(0, 0, 0)
    if view.node.domain not in ("", "ai.onnx"):
        raise Unknown  # a custom op whose cost is not known: listed as uncounted
    if op in _REDUCTIONS:
        return _per_input(0, 1)(view)
    return _per_output(0, 1)(view)
