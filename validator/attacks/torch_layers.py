"""PyTorch versions of the ONNX layer operators (convolution, pooling, normalisation, softmax,
clipping, padding, resizing, reductions) for :class:`validator.attacks.torch_graph.TorchGraph`.

Each takes ``(torch, attributes, *inputs)``; torch is passed in, never imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Op = Callable[..., Any]


class NotConvertible(Exception):
    """The graph uses an operator (or attribute) this interpreter does not implement."""


def to_tensor(torch: Any, array: np.ndarray) -> Any:
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.array(array, copy=True))


def as_ints(value: Any) -> list[int]:
    return [int(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]


def pads_of(attrs: dict[str, Any], spatial: int) -> list[int]:
    pads = list(attrs.get("pads", [0] * 2 * spatial))
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise NotConvertible("auto_pad SAME_* is not supported")
    return pads


def symmetric_pad(torch: Any, x: Any, pads: list[int], value: float = 0.0) -> tuple[Any, list[int]]:
    """Torch pools and convs pad symmetrically; pad explicitly when begin != end."""
    half = len(pads) // 2
    if pads[:half] == pads[half:]:
        return x, pads[:half]
    spec: list[int] = []
    for axis in reversed(range(half)):
        spec += [pads[axis], pads[axis + half]]
    return torch.nn.functional.pad(x, spec, value=value), [0] * half


def conv(torch: Any, a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
    spatial = w.dim() - 2
    x, pads = symmetric_pad(torch, x, pads_of(a, spatial))
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


def pool(kind: str) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        kernel = list(a["kernel_shape"])
        spatial = len(kernel)
        fill = float("-inf") if kind == "max" else 0.0
        x, pads = symmetric_pad(torch, x, pads_of(a, spatial), fill)
        strides = list(a.get("strides", [1] * spatial))
        ceil = bool(a.get("ceil_mode", 0))
        f = torch.nn.functional
        if kind == "max":
            fn = (f.max_pool1d, f.max_pool2d, f.max_pool3d)[spatial - 1]
            return fn(x, kernel, strides, pads, list(a.get("dilations", [1] * spatial)), ceil)
        fn = (f.avg_pool1d, f.avg_pool2d, f.avg_pool3d)[spatial - 1]
        return fn(x, kernel, strides, pads, ceil, bool(a.get("count_include_pad", 0)))

    return run


def gemm(torch: Any, a: dict[str, Any], x: Any, w: Any, b: Any = None) -> Any:
    x = x.t() if a.get("transA", 0) else x
    w = w.t() if a.get("transB", 0) else w
    out = float(a.get("alpha", 1.0)) * (x @ w)
    return out if b is None else out + float(a.get("beta", 1.0)) * b


def batchnorm(
    torch: Any, a: dict[str, Any], x: Any, scale: Any, bias: Any, mean: Any, var: Any
) -> Any:
    return torch.nn.functional.batch_norm(
        x, mean, var, scale, bias, False, 0.0, float(a.get("epsilon", 1e-5))
    )


def axes_of(a: dict[str, Any], given: Any) -> list[int] | None:
    if given is not None:
        return as_ints(given)
    return list(a["axes"]) if "axes" in a else None


def reduce(name: str) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any, axes: Any = None) -> Any:
        dims = axes_of(a, axes)
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


def softmax(log: bool) -> Op:
    def run(torch: Any, a: dict[str, Any], x: Any) -> Any:
        axis = int(a.get("axis", -1))
        fn = torch.log_softmax if log else torch.softmax
        return fn(x, dim=axis)

    return run


def clip(torch: Any, a: dict[str, Any], x: Any, low: Any = None, high: Any = None) -> Any:
    low = low if low is not None else a.get("min")
    high = high if high is not None else a.get("max")
    return torch.clamp(
        x, min=None if low is None else float(low), max=None if high is None else float(high)
    )


def pad_op(
    torch: Any, a: dict[str, Any], x: Any, pads: Any = None, value: Any = None, axes: Any = None
) -> Any:
    spec = as_ints(pads) if pads is not None else list(a["pads"])
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


def layernorm(torch: Any, a: dict[str, Any], x: Any, scale: Any, bias: Any = None) -> Any:
    axis = int(a.get("axis", -1)) % x.dim()
    shape = list(x.shape[axis:])
    return torch.nn.functional.layer_norm(
        x,
        shape,
        scale.expand(shape),
        None if bias is None else bias.expand(shape),
        float(a.get("epsilon", 1e-5)),
    )


def resize(
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
        return f.interpolate(x, size=as_ints(sizes)[2:], **kw)
    return f.interpolate(x, scale_factor=[float(s) for s in scales.tolist()[2:]], **kw)
