"""Run an ONNX graph with PyTorch operations, so that gradients flow to the input.

This is the "convert the ONNX file back to PyTorch" step the organizers ran before their
white-box attacks, done as a small interpreter over the graph instead of through a converter
package: it needs nothing but torch (onnx2torch pulls in torchvision, whose compiled operators
must match the installed torch exactly) and it covers the operators of common image classifiers.
A graph with an operator outside the table is reported as not convertible, naming the operator.

Imported only when the white-box extra is used; torch is never imported at module level
elsewhere in the validator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import onnx
from onnx import helper, numpy_helper

from validator.attacks import torch_layers as layers
from validator.attacks import torch_tensors as tensors
from validator.attacks.torch_layers import NotConvertible, Op
from validator.attacks.torch_quantisers import StraightThrough, find_quantisers

__all__ = ["NotConvertible", "TorchGraph", "unsupported_ops"]


def unsupported_ops(graph: onnx.GraphProto) -> list[str]:
    """Operator types in ``graph`` the interpreter cannot run (sorted)."""
    return sorted(
        {n.op_type for n in graph.node if n.op_type not in _OPS or n.domain not in ("", "ai.onnx")}
    )


class TorchGraph:
    """``TorchGraph(model, torch)(x)`` evaluates the model's first output for input ``x``."""

    def __init__(self, model: onnx.ModelProto, torch: Any) -> None:
        missing = unsupported_ops(model.graph)
        if missing:
            raise NotConvertible(
                f"operators without a PyTorch equivalent here: {', '.join(missing)}"
            )
        self.torch = torch
        graph = model.graph
        self.constants = {
            t.name: layers.to_tensor(torch, numpy_helper.to_array(t)) for t in graph.initializer
        }
        self.input = next(i.name for i in graph.input if i.name not in self.constants)
        self.output = graph.output[0].name
        self.nodes = [
            (n, {a.name: helper.get_attribute_value(a) for a in n.attribute}) for n in graph.node
        ]
        self.quantisers = find_quantisers(graph)  # ArgMax quantisers: straight-through

    def __call__(self, x: Any, output: str | None = None) -> Any:
        """The graph's first output for ``x``, or the tensor called ``output``."""
        env: dict[str, Any] = dict(self.constants)
        env[self.input] = x
        through = StraightThrough(self.quantisers)
        for position, (node, attrs) in enumerate(self.nodes):
            args = [env[name] if name else None for name in node.input]
            try:
                result = _OPS[node.op_type](self.torch, attrs, *args)
            except NotConvertible:
                raise
            except Exception as exc:
                raise NotConvertible(
                    f"{node.op_type} node {node.name or '?'} failed: {exc}"
                ) from None
            outputs = result if isinstance(result, tuple) else (result,)
            for name, value in zip(node.output, outputs, strict=False):
                env[name] = value
            if self.quantisers:
                through.after(position, node.op_type, node.output, env)
        return env[output or self.output]


def _unary(fn: Callable[[Any, Any], Any]) -> Op:
    return lambda torch, a, x: fn(torch, x)


def _binary(fn: Callable[[Any, Any, Any], Any]) -> Op:
    return lambda torch, a, x, y: fn(torch, x, y)


_OPS: dict[str, Op] = {
    "Conv": layers.conv,
    "Gemm": layers.gemm,
    "MatMul": _binary(lambda t, x, y: x @ y),
    "Add": _binary(lambda t, x, y: x + y),
    "Sub": _binary(lambda t, x, y: x - y),
    "Mul": _binary(lambda t, x, y: x * y),
    "Div": _binary(
        lambda t, x, y: x / y if x.is_floating_point() else t.div(x, y, rounding_mode="trunc")
    ),
    "Pow": _binary(lambda t, x, y: t.pow(x, y)),
    "Max": lambda t, a, *xs: _fold(t.maximum, xs),
    "Min": lambda t, a, *xs: _fold(t.minimum, xs),
    "Sum": lambda t, a, *xs: _fold(lambda x, y: x + y, xs),
    "Equal": _binary(lambda t, x, y: x == y),
    "Less": _binary(lambda t, x, y: x < y),
    "Greater": _binary(lambda t, x, y: x > y),
    "Where": lambda t, a, c, x, y: t.where(c.bool(), x, y),
    "Relu": _unary(lambda t, x: t.relu(x)),
    "LeakyRelu": lambda t, a, x: t.nn.functional.leaky_relu(x, float(a.get("alpha", 0.01))),
    "PRelu": _binary(lambda t, x, s: t.where(x >= 0, x, x * s)),
    "Elu": lambda t, a, x: t.nn.functional.elu(x, float(a.get("alpha", 1.0))),
    "Sigmoid": _unary(lambda t, x: t.sigmoid(x)),
    "HardSigmoid": lambda t, a, x: t.clamp(
        float(a.get("alpha", 0.2)) * x + float(a.get("beta", 0.5)), 0, 1
    ),
    "HardSwish": _unary(lambda t, x: t.nn.functional.hardswish(x)),
    "Tanh": _unary(lambda t, x: t.tanh(x)),
    "Erf": _unary(lambda t, x: t.erf(x)),
    "Gelu": lambda t, a, x: t.nn.functional.gelu(
        x, approximate="tanh" if a.get("approximate", b"none") in (b"tanh", "tanh") else "none"
    ),
    "Exp": _unary(lambda t, x: t.exp(x)),
    "Log": _unary(lambda t, x: t.log(x)),
    "Sqrt": _unary(lambda t, x: t.sqrt(x)),
    "Reciprocal": _unary(lambda t, x: 1.0 / x),
    "Neg": _unary(lambda t, x: -x),
    "Abs": _unary(lambda t, x: t.abs(x)),
    "Floor": tensors.straight_through(lambda t, x: t.floor(x)),
    "Ceil": tensors.straight_through(lambda t, x: t.ceil(x)),
    "Round": tensors.straight_through(lambda t, x: t.round(x)),
    "Sign": tensors.straight_through(lambda t, x: t.sign(x)),
    "RandomNormalLike": tensors.random_op("normal", True),
    "RandomUniformLike": tensors.random_op("uniform", True),
    "RandomNormal": tensors.random_op("normal", False),
    "RandomUniform": tensors.random_op("uniform", False),
    "Identity": _unary(lambda t, x: x),
    "Dropout": lambda t, a, x, *rest: x,
    "Clip": layers.clip,
    "Softmax": layers.softmax(False),
    "LogSoftmax": layers.softmax(True),
    "BatchNormalization": layers.batchnorm,
    "LayerNormalization": layers.layernorm,
    "MaxPool": layers.pool("max"),
    "AveragePool": layers.pool("avg"),
    "GlobalAveragePool": _unary(lambda t, x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)),
    "GlobalMaxPool": _unary(lambda t, x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True)),
    "Flatten": tensors.flatten,
    "Reshape": tensors.reshape,
    "Transpose": tensors.transpose,
    "Squeeze": tensors.squeeze,
    "Unsqueeze": tensors.unsqueeze,
    "Concat": tensors.concat,
    "Slice": tensors.slice_op,
    "Gather": tensors.gather,
    "Split": tensors.split_op,
    "Pad": layers.pad_op,
    "Resize": layers.resize,
    "Upsample": lambda t, a, x, scales: layers.resize(t, a, x, None, scales, None),
    "Shape": _unary(lambda t, x: t.tensor(list(x.shape), dtype=t.int64)),
    "Expand": _binary(lambda t, x, s: x * t.ones(layers.as_ints(s), dtype=x.dtype)),
    "Tile": _binary(lambda t, x, r: x.repeat(*layers.as_ints(r))),
    "Cast": tensors.cast_through,
    "Constant": tensors.constant,
    "ConstantOfShape": tensors.constant_of_shape,
    "ReduceMean": layers.reduce("mean"),
    "ReduceSum": layers.reduce("sum"),
    "ReduceMax": layers.reduce("max"),
    "OneHot": tensors.one_hot,
    "ArgMax": lambda t, a, x: t.argmax(
        x, dim=int(a.get("axis", 0)), keepdim=bool(a.get("keepdims", 1))
    ),
}


def _fold(fn: Callable[[Any, Any], Any], xs: Sequence[Any]) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out
