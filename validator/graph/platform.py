"""The ``platform`` convention: what the organizers' ONNX route reports for a file.

The CVPR 2022 platform did not count an ONNX file directly. It turned the file back into a
PyTorch ``nn.Module`` with its own converter (CdtQin/CVPR2022-AISafety-Helper,
``onnx/onnx_pytorch/code_gen.py``, derived from onnx-pytorch) and ran ptflops 0.6.8 on that module
(``torch/check_model.py``). ptflops 0.6.8 counts only modules it has a forward hook for, so the
figure is decided by which ONNX operators the converter emits as ``nn`` modules:

* ``Conv`` -> ``nn.ConvNd``: prod(weight) per output position, + out_channels per position
  with a bias input (ptflops' conv hook).
* ``ConvTranspose`` -> ``nn.ConvTransposeNd``: the same hook on the *output* grid, with the
  converter's in/out channels (weight dims 0 and 1) and groups.
* ``BatchNormalization`` -> ``nn.BatchNormNd`` (affine): 2 per input element.
* ``InstanceNormalization`` -> ``nn.InstanceNormNd`` built without ``affine``: 1 per element.
* ``MaxPool`` -> ``nn.MaxPoolNd``: 1 per input element (the input after the ``F.pad`` the
  converter inserts for asymmetric pads); ``AveragePool`` -> ``nn.AvgPoolNd``: 1 per input
  element.
* ``Flatten``, ``Identity``, ``Dropout`` become modules ptflops treats as zero-op.

Everything else is emitted as a functional call and counts nothing: ``Relu``/``Clip``/
``LeakyRelu``/``PRelu``/``Elu`` (``F.relu``, ``torch.clamp``...), ``Gemm`` and ``MatMul``
(``torch.matmul``: no ``nn.Linear``, so classifier heads and attention are free),
``GlobalAveragePool`` (``F.avg_pool``), ``Resize``/``Upsample`` (``F.interpolate``), element-wise
arithmetic, reductions and softmax. Whether the converter accepts the file at all is decided in
:mod:`validator.graph.platform_rules`; the figure is ``None`` when it does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from validator.graph.macs import NodeView

# The operators the converter has a code generator for (one module per op in its
# op_code_generators folder). Any other op, or any op outside the default domain, stops it.
# fmt: off
CONVERTIBLE_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "AveragePool", "BatchNormalization", "BitShift", "Cast", "Ceil", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "Div", "Dropout", "Elu", "Equal",
    "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherND", "Gemm", "GlobalAveragePool",
    "Greater", "Identity", "InstanceNormalization", "LRN", "LeakyRelu", "Less", "Log", "MatMul",
    "Max", "MaxPool", "Mul", "NonMaxSuppression", "NonZero", "Not", "PRelu", "Pad", "Pow",
    "Reciprocal", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "Relu", "Reshape",
    "Resize", "RoiAlign", "Round", "Scatter", "ScatterElements", "Shape", "Sigmoid", "Slice",
    "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "TopK", "Transpose", "Unsqueeze",
    "Upsample", "Where",
})
# fmt: on


def _need(dims: tuple[int, ...] | None) -> tuple[int, ...]:
    from validator.graph.macs import Unknown

    if dims is None:
        raise Unknown
    return dims


def _conv(v: NodeView) -> int:
    out, weight = _need(v.out_dims()), _need(v.in_dims(1))
    positions = math.prod(out[:1]) * math.prod(out[2:])
    bias = weight[0] * positions if v.has_input(2) else 0
    return math.prod(weight) * positions + bias


def _conv_transpose(v: NodeView) -> int:
    out, weight = _need(v.out_dims()), _need(v.in_dims(1))
    group = v.attr("group", 1)
    groups = group if isinstance(group, int) and group > 0 else 1
    positions = math.prod(out[:1]) * math.prod(out[2:])
    # The converter builds nn.ConvTransposeNd(in=weight[0], out=weight[1], groups=g).
    per_position = math.prod(weight[2:]) * weight[0] * (weight[1] // groups)
    bias = weight[1] * positions if v.has_input(2) else 0
    return per_position * positions + bias


def _batch_norm(v: NodeView) -> int:
    return 2 * math.prod(_need(v.in_dims(0)))


def _per_input(v: NodeView) -> int:
    return math.prod(_need(v.in_dims(0)))


def _max_pool(v: NodeView) -> int:
    dims = _need(v.in_dims(0))
    pads = [int(p) for p in v.attr("pads", []) or []]  # type: ignore[attr-defined]
    d = len(dims) - 2
    if len(pads) != 2 * d or all(pads[i] == pads[i + d] for i in range(d)):
        return math.prod(dims)  # symmetric: padding happens inside nn.MaxPoolNd
    # Asymmetric pads: the converter pads with F.pad first, so the module sees a larger input.
    spatial = [dims[2 + i] + pads[i] + pads[i + d] for i in range(d)]
    return math.prod(dims[:2]) * math.prod(spatial)


RULES: Mapping[str, Callable[[NodeView], int]] = MappingProxyType(
    {
        "Conv": _conv,
        "ConvTranspose": _conv_transpose,
        "BatchNormalization": _batch_norm,
        "InstanceNormalization": _per_input,
        "MaxPool": _max_pool,
        "AveragePool": _per_input,
    }
)


def platform_node_macs(view: NodeView) -> int:
    """Multiply-adds ptflops 0.6.8 records for this node once the converter has made it a
    module; 0 for everything the converter emits as a functional call. Raises Unknown."""
    if view.node.domain not in ("", "ai.onnx"):
        return 0
    rule = RULES.get(view.node.op_type)
    return int(rule(view)) if rule is not None else 0
