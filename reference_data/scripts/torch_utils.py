"""Torch helpers of the development scripts (torch is a development-only dependency).

* :class:`PilBilinearLoader`: a differentiable copy of the validator's loader from a stored
  image (N, 3, h, w RGB in [0, 1]) to the model input (N, 3, 224, 224 BGR). The resize uses the
  very coefficients of Pillow's BILINEAR filter (``precompute_coeffs`` in Pillow's Resample.c), as
  two matrices; the only differences from Pillow are its fixed-point arithmetic and its rounding
  to uint8 after each pass (at most ~1/255 per pixel).
* :class:`OnnxModule`: runs an ONNX graph (the operators a plain CNN export uses) with torch ops,
  so white-box attacks differentiate the exact exported baseline, not a separate checkpoint (the
  organizers likewise converted submitted ONNX files back to PyTorch to attack them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

import common


def setup_torch(threads: int = 2) -> None:
    """Limit torch to ``threads`` CPU threads and make it deterministic."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def pil_bilinear_weights(in_size: int, out_size: int) -> np.ndarray:
    """``(out_size, in_size)`` matrix of Pillow's BILINEAR resampling along one axis.

    Mirrors ``precompute_coeffs`` (Pillow, src/libImaging/Resample.c): triangle filter of support
    1 scaled by ``max(in/out, 1)``, window clipped to the image and weights renormalised.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # C cast truncates toward zero
        xmax = min(int(center + support + 0.5), in_size)
        for x in range(xmin, xmax):
            t = abs((x - center + 0.5) / filterscale)
            weights[xx, x] = max(1.0 - t, 0.0)
        total = weights[xx].sum()
        if total != 0:
            weights[xx] /= total
    return weights


class PilBilinearLoader(torch.nn.Module):
    """Differentiable loader: stored RGB image batch -> (N, 3, 224, 224) BGR model input."""

    def __init__(self, in_size: int = common.IMAGE_SIZE, out_size: int = common.INPUT_SIZE):
        super().__init__()
        w = torch.tensor(pil_bilinear_weights(in_size, out_size), dtype=torch.float32)
        self.register_buffer("weights", w)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """``rgb``: (N, 3, h, w) in [0, 1], RGB. Returns the BGR model input."""
        w: torch.Tensor = self.weights  # type: ignore[assignment]
        resized = torch.einsum("oh,nchw,pw->ncop", w, rgb, w)
        return resized.flip(1)


def hwc_uint8_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float32 in [0, 1] (RGB kept)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)


def tensor_to_hwc_uint8(x: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` in [0, 1] -> ``(N, H, W, 3)`` uint8 (rounded)."""
    arr = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).contiguous().numpy()


# --------------------------------------------------------------------------------------------
# ONNX graph -> torch
# --------------------------------------------------------------------------------------------


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(attrs: dict[str, object], dims: int = 2) -> list[int]:
    """ONNX pads (begin..., end...) -> F.pad order (last dim first)."""
    pads = list(attrs.get("pads", [0] * 2 * dims))  # type: ignore[call-overload]
    out: list[int] = []
    for d in reversed(range(dims)):
        out += [pads[d], pads[d + dims]]
    return out


def _conv(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, a: dict[str, Any]
) -> torch.Tensor:
    x = F.pad(x, _pads(a))
    return F.conv2d(x, w, b, stride=a.get("strides", [1, 1]),
                    dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))


def _maxpool(x: torch.Tensor, a: dict[str, Any]) -> torch.Tensor:
    x = F.pad(x, _pads(a), value=-math.inf)
    return F.max_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]),
                        ceil_mode=bool(a.get("ceil_mode", 0)))


def _avgpool(x: torch.Tensor, a: dict[str, Any]) -> torch.Tensor:
    if any(_pads(a)) and not a.get("count_include_pad", 0):
        raise NotImplementedError("AveragePool with padding excluded from the count")
    x = F.pad(x, _pads(a))
    return F.avg_pool2d(x, a["kernel_shape"], a.get("strides", a["kernel_shape"]),
                        ceil_mode=bool(a.get("ceil_mode", 0)))


def _gemm(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, a: dict[str, Any]
) -> torch.Tensor:
    if a.get("transA", 0):
        x = x.t()
    if a.get("transB", 0):
        w = w.t()
    y = float(a.get("alpha", 1.0)) * (x @ w)  # type: ignore[arg-type]
    if b is not None:
        y = y + float(a.get("beta", 1.0)) * b  # type: ignore[arg-type]
    return y


OPS: dict[str, Callable[..., torch.Tensor]] = {
    "Conv": lambda a, x, w, b=None: _conv(x, w, b, a),
    "Relu": lambda a, x: F.relu(x),
    "MaxPool": lambda a, x: _maxpool(x, a),
    "AveragePool": lambda a, x: _avgpool(x, a),
    "GlobalAveragePool": lambda a, x: x.mean(dim=(2, 3), keepdim=True),
    "Flatten": lambda a, x: x.flatten(int(a.get("axis", 1))),  # type: ignore[call-overload]
    "Gemm": lambda a, x, w, b=None: _gemm(x, w, b, a),
    "MatMul": lambda a, x, y: x @ y,
    "Add": lambda a, x, y: x + y,
    "Sub": lambda a, x, y: x - y,
    "Mul": lambda a, x, y: x * y,
    "Div": lambda a, x, y: x / y,
    "Identity": lambda a, x: x,
    "Reshape": lambda a, x, s: x.reshape([int(v) for v in s.tolist()]),
}


class OnnxModule(torch.nn.Module):
    """Evaluate a (topologically sorted) ONNX graph with torch operators; differentiable."""

    def __init__(self, path: str | Path):
        super().__init__()
        model = onnx.load(str(path))
        self.graph = model.graph
        for node in self.graph.node:
            if node.op_type not in OPS and node.op_type != "Constant":
                raise NotImplementedError(f"ONNX operator {node.op_type} is not supported")
        self.consts: dict[str, torch.Tensor] = {
            init.name: torch.from_numpy(numpy_helper.to_array(init).copy())
            for init in self.graph.initializer
        }
        self.input_name = self.graph.input[0].name
        self.output_name = self.graph.output[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Model input (N, 3, 224, 224) BGR -> logits (N, num_classes)."""
        env: dict[str, torch.Tensor] = dict(self.consts)
        env[self.input_name] = x
        for node in self.graph.node:
            attrs = _attrs(node)
            if node.op_type == "Constant":
                env[node.output[0]] = torch.from_numpy(
                    numpy_helper.to_array(attrs["value"]).copy()  # type: ignore[arg-type]
                )
                continue
            inputs = [env[name] for name in node.input if name]
            env[node.output[0]] = OPS[node.op_type](attrs, *inputs)
        return env[self.output_name]


class StoredImageModel(torch.nn.Module):
    """Stored RGB image batch (N, 3, h, w) in [0, 1] -> logits, through the PIL-bilinear loader."""

    def __init__(self, onnx_path: str | Path, in_size: int = common.IMAGE_SIZE):
        super().__init__()
        self.loader = PilBilinearLoader(in_size)
        self.model = OnnxModule(onnx_path)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """Logits of the stored images ``rgb``."""
        return self.model(self.loader(rgb))
