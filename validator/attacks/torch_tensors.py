"""PyTorch versions of the ONNX tensor operators (shapes, indexing, casts, constants) and of the
operators that need special gradients for attacks: non-differentiable ones pass the gradient
straight through (BPDA) and random ones draw anew on every call (EOT), for
:class:`validator.attacks.torch_graph.TorchGraph`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from onnx import helper, numpy_helper

from validator.attacks.torch_layers import NotConvertible, Op, as_ints, axes_of, to_tensor


def reshape(torch: Any, a: dict[str, Any], x: Any, shape: Any) -> Any:
    dims = as_ints(shape)
    if not a.get("allowzero", 0):
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


def slice_op(
    torch: Any,
    a: dict[str, Any],
    x: Any,
    starts: Any,
    ends: Any,
    axes: Any = None,
    steps: Any = None,
) -> Any:
    starts, ends = as_ints(starts), as_ints(ends)
    axes = as_ints(axes) if axes is not None else list(range(len(starts)))
    steps = as_ints(steps) if steps is not None else [1] * len(starts)
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


def squeeze(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
    dims = axes_of(a, axes)
    if dims is None:
        return x.squeeze()
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        x = x.squeeze(d)
    return x


def unsqueeze(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
    dims = axes_of(a, axes) or []
    rank = x.dim() + len(dims)
    for d in sorted(d % rank for d in dims):
        x = x.unsqueeze(d)
    return x


def concat(torch: Any, a: dict[str, Any], *xs: Any) -> Any:
    return torch.cat([x for x in xs if x is not None], dim=int(a["axis"]))


def gather(torch: Any, a: dict[str, Any], x: Any, index: Any) -> Any:
    axis = int(a.get("axis", 0)) % x.dim()
    idx = index.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    return torch.index_select(x, axis, idx.reshape(-1)).reshape(
        *x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]
    )


def cast_op(torch: Any, a: dict[str, Any], x: Any) -> Any:
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


def constant(torch: Any, a: dict[str, Any]) -> Any:
    if "value" in a:
        return to_tensor(torch, numpy_helper.to_array(a["value"]))
    for key in ("value_float", "value_int"):
        if key in a:
            return torch.tensor(a[key])
    for key in ("value_floats", "value_ints"):
        if key in a:
            return torch.tensor(list(a[key]))
    raise NotConvertible("Constant without a value")


def constant_of_shape(torch: Any, a: dict[str, Any], shape: Any) -> Any:
    fill = to_tensor(torch, numpy_helper.to_array(a["value"])) if "value" in a else torch.zeros(1)
    return fill.reshape(-1)[0].expand(as_ints(shape)).clone()


def split_op(torch: Any, a: dict[str, Any], x: Any, split: Any = None) -> tuple[Any, ...]:
    axis = int(a.get("axis", 0))
    sizes = as_ints(split) if split is not None else list(a.get("split", []))
    if not sizes:
        parts = int(a.get("num_outputs", 2))
        sizes = [x.shape[axis] // parts] * parts
    return tuple(torch.split(x, sizes, dim=axis))


def flatten(torch: Any, a: dict[str, Any], x: Any) -> Any:
    axis = int(a.get("axis", 1)) % (x.dim() + 1) if x.dim() else 0
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def transpose(torch: Any, a: dict[str, Any], x: Any) -> Any:
    return x.permute(*(a.get("perm") or reversed(range(x.dim()))))


def one_hot(torch: Any, a: dict[str, Any], indices: Any, depth: Any, values: Any) -> Any:
    """ONNX OneHot: ``values[1]`` at each index along ``axis`` (default last), ``values[0]``
    elsewhere; negative indices count from the end."""
    size = int(depth.reshape(-1)[0])
    idx = indices.long()
    idx = torch.where(idx < 0, idx + size, idx)
    hot = torch.nn.functional.one_hot(idx.clamp(0, size - 1), size).to(values.dtype)
    hot = hot * ((idx >= 0) & (idx < size)).unsqueeze(-1).to(values.dtype)
    out = values[0] + (values[1] - values[0]) * hot
    axis = int(a.get("axis", -1)) % out.dim()
    return out.movedim(-1, axis)


def straight_through(fn: Callable[[Any, Any], Any]) -> Op:
    """BPDA (Athalye et al., 2018): the forward pass applies ``fn`` (Round, Floor, a cast to
    integers...), the backward pass treats it as the identity, so a quantising input layer
    cannot zero the gradient. Integer tensors (shapes, indices) go through untouched."""

    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        out = fn(torch, x)
        if not x.is_floating_point() or not x.requires_grad:
            return out
        return x + (out.to(x.dtype) - x).detach()

    return run


def cast_through(torch: Any, a: dict[str, Any], x: Any) -> Any:
    """Cast with a straight-through gradient when a float tensor carrying a gradient goes to
    an integer type (quantize-like ``Cast(uint8)``): the values are truncated and clamped
    like the integer type would, but stay a float tensor so the gradient flows."""
    target = helper.tensor_dtype_to_np_dtype(int(a["to"]))
    if x.is_floating_point() and x.requires_grad and np.issubdtype(target, np.integer):
        info = np.iinfo(target)
        value = torch.clamp(torch.trunc(x), float(info.min), float(info.max))
        return x + (value - x).detach()
    return cast_op(torch, a, x)


def random_op(kind: str, like: bool) -> Op:
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
