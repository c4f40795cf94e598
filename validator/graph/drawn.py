"""Shapes drawn at run time, bounded by the largest value a random operator can draw.

Randomized defenses resize, pad or crop the input by amounts drawn from ``RandomUniform``
(low, high). Such a shape has no single value; a run measures one draw. The budget rules ask
whether the model stays under the limit, so shape folding binds each bounded random operator to
its largest reachable value: the float just below ``high`` (onnxruntime draws in [low, high)).
Shape arithmetic built from such a draw (low + floor(U * span), room - offset) then folds to
the largest size. The names of the operators that fixed a shape are kept so the ``flops``
finding can say so. Unbounded draws (RandomNormal, Multinomial) are left unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import onnx

from validator.graph.limits import MAX_FOLD_ELEMENTS, element_count
from validator.graph.shapes import TensorShape

BOUNDED = frozenset({"RandomUniform", "RandomUniformLike"})
NOTE = "counted at the largest size a random operator can draw"


def largest_draw(
    node: onnx.NodeProto, attrs: Mapping[str, Any], shapes: Mapping[str, TensorShape]
) -> np.ndarray | None:
    """The largest value ``node`` (RandomUniform or RandomUniformLike) can draw, filled to its
    output shape; None for any other op or a shape that is unknown or too large to fold."""
    if node.op_type not in BOUNDED or node.domain not in ("", "ai.onnx"):
        return None
    dims = _dims(node, attrs, shapes)
    if dims is None or any(d < 0 for d in dims) or element_count(dims) > MAX_FOLD_ELEMENTS:
        return None  # a hostile shape attribute must not allocate (Python ints never wrap)
    dtype = _dtype(node, attrs, shapes)
    low, high = dtype.type(attrs.get("low", 0.0)), dtype.type(attrs.get("high", 1.0))
    top = np.nextafter(high, low) if high > low else high  # draws are < high
    return np.full(dims, top, dtype=dtype)


def label(node: onnx.NodeProto) -> str:
    """How the note names a random operator: its type and name (or first output)."""
    return f"{node.op_type} {node.name or (node.output[0] if node.output else '?')!r}"


def note(labels: Iterable[str]) -> str:
    """The analysis note naming the random operators that fixed a counted shape."""
    return f"{NOTE}: " + ", ".join(sorted(set(labels)))


def _dims(
    node: onnx.NodeProto, attrs: Mapping[str, Any], shapes: Mapping[str, TensorShape]
) -> list[int] | None:
    if node.op_type == "RandomUniform":
        shape = attrs.get("shape")
        return [int(d) for d in shape] if shape is not None else None
    like = shapes.get(node.input[0]) if node.input else None
    if like is None or not like.known or like.dims is None:
        return None
    return [int(d or 0) for d in like.dims]


def _dtype(
    node: onnx.NodeProto, attrs: Mapping[str, Any], shapes: Mapping[str, TensorShape]
) -> np.dtype[Any]:
    code = attrs.get("dtype")
    if code is None and node.op_type == "RandomUniformLike" and node.input:
        like = shapes.get(node.input[0])
        code = like.elem_type if like is not None and like.elem_type else None
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(code or onnx.TensorProto.FLOAT)))
    except (KeyError, ValueError, TypeError):
        return np.dtype(np.float32)
