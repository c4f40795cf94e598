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

import numpy as np
import onnx
from onnx import helper, numpy_helper

Op = Callable[..., Any]


class NotConvertible(Exception):
    """The graph uses an operator (or attribute) this interpreter does not implement."""


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
            t.name: _tensor(torch, numpy_helper.to_array(t)) for t in graph.initializer
        }
        self.input = next(i.name for i in graph.input if i.name not in self.constants)
        self.output = graph.output[0].name
        self.nodes = [
            (n, {a.name: helper.get_attribute_value(a) for a in n.attribute}) for n in graph.node
        ]

    def __call__(self, x: Any, output: str | None = None) -> Any:
        """The graph's first output for ``x``, or the tensor called ``output``."""
        env: dict[str, Any] = dict(self.constants)
        env[self.input] = x
        for node, attrs in self.nodes:
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
        return env[output or self.output]


def _tensor(torch: Any, array: np.ndarray) -> Any:
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.array(array, copy=True))


def _ints(value: Any) -> list[int]:
    return [int(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]


def _pads(attrs: dict[str, Any], spatial: int) -> list[int]:
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise NotConvertible("auto_pad SAME_* is not supported")
    return pads


def _symmetric(torch: Any, x: Any, pads: list[int], value: float = 0.0) -> tuple[Any, list[int]]:
    """Torch pools and convs pad symmetrically; pad explicitly when begin != end."""
    half = len(pads) // 2
    if pads[:half] == pads[half:]:
        return x, pads[:half]
    spec: list[int] = []
    for axis in reversed(range(half)):
        spec += [pads[axis], pads[axis + half]]
    return torch.nn.functional.pad(x, spec, value=value), [0] * half


def _conv(torch: Any, a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
    spatial = w.dim() - 2
    x, pads = _symmetric(torch, x, _pads(a, spatial))
    fn = (torch.nn.functional.conv1d, torch.nn.functional.conv2d, torch.nn.functional.conv3d)[
        spatial - 1
    ]
    return fn(
        x,
        w,
        b,
        list(a.get("strides", [1] * spatial)),
        pads,
        list(a.get("dilations", [1] * spatial)),
        int(a.get("group", 1)),
    )


def _pool(kind: str) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        kernel = list(a["kernel_shape"])
        spatial = len(kernel)
        fill = float("-inf") if kind == "max" else 0.0
        x, pads = _symmetric(torch, x, _pads(a, spatial), fill)
        strides = list(a.get("strides", [1] * spatial))
        ceil = bool(a.get("ceil_mode", 0))
        f = torch.nn.functional
        if kind == "max":
            fn = (f.max_pool1d, f.max_pool2d, f.max_pool3d)[spatial - 1]
            return fn(x, kernel, strides, pads, list(a.get("dilations", [1] * spatial)), ceil)
        fn = (f.avg_pool1d, f.avg_pool2d, f.avg_pool3d)[spatial - 1]
        return fn(x, kernel, strides, pads, ceil, bool(a.get("count_include_pad", 0)))

    return run


def _gemm(torch: Any, a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
    x = x.t() if a.get("transA", 0) else x
    w = w.t() if a.get("transB", 0) else w
    out = float(a.get("alpha", 1.0)) * (x @ w)
    return out if b is None else out + float(a.get("beta", 1.0)) * b


def _batchnorm(
    torch: Any, a: dict[str, Any], x: Any, scale: Any, bias: Any, mean: Any, var: Any
) -> Any:
    return torch.nn.functional.batch_norm(
        x, mean, var, scale, bias, False, 0.0, float(a.get("epsilon", 1e-5))
    )


def _reshape(torch: Any, a: dict[str, Any], x: Any, shape: Any) -> Any:
    dims = _ints(shape)
    if not a.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def _slice(
    torch: Any,
    a: dict[str, Any],
    x: Any,
    starts: Any,
    ends: Any,
    axes: Any = None,
    steps: Any = None,
) -> Any:
    starts, ends = _ints(starts), _ints(ends)
    axes = _ints(axes) if axes is not None else list(range(len(starts)))
    steps = _ints(steps) if steps is not None else [1] * len(starts)
    index: list[Any] = [slice(None)] * x.dim()
    for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
        if st < 0:
            raise NotConvertible("Slice with a negative step")
        size = x.shape[ax]
        s, e = (
            max(min(s + size if s < 0 else s, size), 0),
            max(min(e + size if e < 0 else e, size), 0),
        )
        index[ax] = slice(s, e, st)
    return x[tuple(index)]


def _axes(a: dict[str, Any], given: Any) -> list[int] | None:
    if given is not None:
        return _ints(given)
    return list(a["axes"]) if "axes" in a else None


def _reduce(name: str) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
        dims = _axes(a, axes)
        keep = bool(a.get("keepdims", 1))
        if dims is None or not dims:
            dims = list(range(x.dim()))
        if name == "max":
            out = x
            for d in sorted(dims, reverse=True):
                out = out.amax(dim=d, keepdim=keep)
            return out
        fn = torch.mean if name == "mean" else torch.sum
        return fn(x, dim=dims, keepdim=keep)

    return run


def _squeeze(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
    dims = _axes(a, axes)
    if dims is None:
        return x.squeeze()
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        x = x.squeeze(d)
    return x


def _unsqueeze(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
    dims = _axes(a, axes) or []
    rank = x.dim() + len(dims)
    for d in sorted(d % rank for d in dims):
        x = x.unsqueeze(d)
    return x


def _softmax(log: bool) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        axis = int(a.get("axis", -1))
        fn = torch.log_softmax if log else torch.softmax
        return fn(x, dim=axis)

    return run


def _clip(torch: Any, a: dict[str, Any], x: Any, low: Any = None, high: Any = None) -> Any:
    low = low if low is not None else a.get("min")
    high = high if high is not None else a.get("max")
    return torch.clamp(
        x, min=None if low is None else float(low), max=None if high is None else float(high)
    )


def _pad(
    torch: Any, a: dict[str, Any], x: Any, pads: Any = None, value: Any = None, axes: Any = None
) -> Any:
    spec = _ints(pads) if pads is not None else list(a["pads"])
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    half = len(spec) // 2
    torch_spec: list[int] = []
    for axis in reversed(range(half)):
        torch_spec += [spec[axis], spec[axis + half]]
    fill = float(value) if value is not None else float(a.get("value", 0.0))
    if mode == "constant":
        return torch.nn.functional.pad(x, torch_spec, value=fill)
    return torch.nn.functional.pad(
        x, torch_spec[: 2 * (x.dim() - 2)], mode={"edge": "replicate"}.get(mode, mode)
    )


def _concat(torch: Any, a: dict[str, Any], *xs: Any) -> Any:
    return torch.cat([x for x in xs if x is not None], dim=int(a["axis"]))


def _gather(torch: Any, a: dict[str, Any], x: Any, index: Any) -> Any:
    axis = int(a.get("axis", 0)) % x.dim()
    idx = index.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    return torch.index_select(x, axis, idx.reshape(-1)).reshape(
        *x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]
    )


def _layernorm(torch: Any, a: dict[str, Any], x: Any, scale: Any, bias: Any = None) -> Any:
    axis = int(a.get("axis", -1)) % x.dim()
    shape = list(x.shape[axis:])
    return torch.nn.functional.layer_norm(
        x,
        shape,
        scale.expand(shape),
        None if bias is None else bias.expand(shape),
        float(a.get("epsilon", 1e-5)),
    )


def _resize(
    torch: Any, a: dict[str, Any], x: Any, roi: Any = None, scales: Any = None, sizes: Any = None
) -> Any:
    mode = a.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    f = torch.nn.functional
    kw: dict[str, Any] = {"mode": {"linear": "bilinear", "cubic": "bicubic"}.get(mode, mode)}
    if mode != "nearest":
        kw["align_corners"] = a.get("coordinate_transformation_mode", b"half_pixel") in (
            b"align_corners",
            "align_corners",
        )
    if sizes is not None and sizes.numel():
        return f.interpolate(x, size=_ints(sizes)[2:], **kw)
    return f.interpolate(x, scale_factor=[float(s) for s in scales.tolist()[2:]], **kw)


def _cast(torch: Any, a: dict[str, Any], x: Any) -> Any:
    target = helper.tensor_dtype_to_np_dtype(int(a["to"]))
    table = {
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float64): torch.float32,
        np.dtype(np.float16): torch.float16,
        np.dtype(np.int64): torch.int64,
        np.dtype(np.int32): torch.int32,
        np.dtype(np.int8): torch.int8,
        np.dtype(np.uint8): torch.uint8,
        np.dtype(np.bool_): torch.bool,
    }
    if np.dtype(target) not in table:
        raise NotConvertible(f"Cast to {target}")
    return x.to(table[np.dtype(target)])


def _constant(torch: Any, a: dict[str, Any]) -> Any:
    if "value" in a:
        return _tensor(torch, numpy_helper.to_array(a["value"]))
    for key in ("value_float", "value_int"):
        if key in a:
            return torch.tensor(a[key])
    for key in ("value_floats", "value_ints"):
        if key in a:
            return torch.tensor(list(a[key]))
    raise NotConvertible("Constant without a value")


def _constant_of_shape(torch: Any, a: dict[str, Any], shape: Any) -> Any:
    fill = _tensor(torch, numpy_helper.to_array(a["value"])) if "value" in a else torch.zeros(1)
    return fill.reshape(-1)[0].expand(_ints(shape)).clone()


def _split(torch: Any, a: dict[str, Any], x: Any, split: Any = None) -> tuple[Any, ...]:
    axis = int(a.get("axis", 0))
    sizes = _ints(split) if split is not None else list(a.get("split", []))
    if not sizes:
        parts = int(a.get("num_outputs", 2))
        sizes = [x.shape[axis] // parts] * parts
    return tuple(torch.split(x, sizes, dim=axis))


def _flatten(torch: Any, a: dict[str, Any], x: Any) -> Any:
    axis = int(a.get("axis", 1)) % (x.dim() + 1) if x.dim() else 0
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _transpose(torch: Any, a: dict[str, Any], x: Any) -> Any:
    return x.permute(*(a.get("perm") or reversed(range(x.dim()))))


def _straight(fn: Callable[[Any, Any], Any]) -> Op:
    """BPDA (Athalye et al., 2018): the forward pass applies ``fn`` (Round, Floor, a cast to
    integers...), the backward pass treats it as the identity, so a quantising input layer
    cannot zero the gradient. Integer tensors (shapes, indices) go through untouched."""

    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        out = fn(torch, x)
        if not x.is_floating_point() or not x.requires_grad:
            return out
        return x + (out.to(x.dtype) - x).detach()

    return run


def _cast_through(torch: Any, a: dict[str, Any], x: Any) -> Any:
    """Cast with a straight-through gradient when a float tensor carrying a gradient goes to
    an integer type (quantize-like ``Cast(uint8)``): the values are truncated and clamped
    like the integer type would, but stay a float tensor so the gradient flows."""
    target = helper.tensor_dtype_to_np_dtype(int(a["to"]))
    if x.is_floating_point() and x.requires_grad and np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        value = torch.clamp(torch.trunc(x), float(info.min), float(info.max))
        return x + (value - x).detach()
    return _cast(torch, a, x)


def _random(kind: str, like: bool) -> Op:
    """Random operators as draws from torch's generator: every call of the module is a new
    draw, so averaging gradients over calls is expectation over transformation (EOT)."""

    def run(torch: Any, a: dict[str, Any], x: Any = None) -> Any:
        shape = list(x.shape) if like else list(a["shape"])
        dtype = x.dtype if like and x.is_floating_point() else torch.float32
        if kind == "normal":
            return torch.randn(shape, dtype=dtype) * float(a.get("scale", 1.0)) + float(
                a.get("mean", 0.0)
            )
        low, high = float(a.get("low", 0.0)), float(a.get("high", 1.0))
        return torch.rand(shape, dtype=dtype) * (high - low) + low

    return run


def _unary(fn: Callable[[Any, Any], Any]) -> Op:
    return lambda torch, a, x: fn(torch, x)


def _binary(fn: Callable[[Any, Any, Any], Any]) -> Op:
    return lambda torch, a, x, y: fn(torch, x, y)


_OPS: dict[str, Op] = {
    "Conv": _conv,
    "Gemm": _gemm,
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
    "Floor": _straight(lambda t, x: t.floor(x)),
    "Ceil": _straight(lambda t, x: t.ceil(x)),
    "Round": _straight(lambda t, x: t.round(x)),
    "Sign": _straight(lambda t, x: t.sign(x)),
    "RandomNormalLike": _random("normal", True),
    "RandomUniformLike": _random("uniform", True),
    "RandomNormal": _random("normal", False),
    "RandomUniform": _random("uniform", False),
    "Identity": _unary(lambda t, x: x),
    "Dropout": lambda t, a, x, *rest: x,
    "Clip": _clip,
    "Softmax": _softmax(False),
    "LogSoftmax": _softmax(True),
    "BatchNormalization": _batchnorm,
    "LayerNormalization": _layernorm,
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "GlobalAveragePool": _unary(lambda t, x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)),
    "GlobalMaxPool": _unary(lambda t, x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True)),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": _concat,
    "Slice": _slice,
    "Gather": _gather,
    "Split": _split,
    "Pad": _pad,
    "Resize": _resize,
    "Upsample": lambda t, a, x, scales: _resize(t, a, x, None, scales, None),
    "Shape": _unary(lambda t, x: t.tensor(list(x.shape), dtype=t.int64)),
    "Expand": _binary(lambda t, x, s: x * t.ones(_ints(s), dtype=x.dtype)),
    "Tile": _binary(lambda t, x, r: x.repeat(*_ints(r))),
    "Cast": _cast_through,
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "ReduceMean": _reduce("mean"),
    "ReduceSum": _reduce("sum"),
    "ReduceMax": _reduce("max"),
    "ArgMax": lambda t, a, x: t.argmax(
        x, dim=int(a.get("axis", 0)), keepdim=bool(a.get("keepdims", 1))
    ),
}


def _fold(fn: Callable[[Any, Any], Any], xs: Sequence[Any]) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out
