"""Constant folding of the small tensors that carry shapes.

Exporters compute Reshape targets, Pad amounts and Slice bounds at run time from ``Shape`` of
activations (Shape -> Gather -> Div -> Concat -> Reshape). Once the batch is bound, those values
are known; ONNX's own data propagation stops at the first op it does not cover. This module
evaluates such chains with numpy (small tensors only) so shape inference can continue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from validator.graph.drawn import BOUNDED, label, largest_draw
from validator.graph.limits import (
    INT64_MAX,
    MAX_FOLD_ELEMENTS,
    AnalysisLimit,
    Int64Overflow,
    element_count,
    exact_integers,
)
from validator.graph.shapes import ShapeMap, TensorShape, value_shape
from validator.loading.tensors import inline_array

MAX_ELEMENTS = MAX_FOLD_ELEMENTS
Values = dict[str, np.ndarray]
Evaluator = Callable[[Sequence[np.ndarray | None], dict[str, Any]], np.ndarray | None]


def _axes(attrs: dict[str, Any], inputs: Sequence[np.ndarray | None], i: int) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(inputs) > i and inputs[i] is not None:
        return [int(a) for a in np.asarray(inputs[i]).reshape(-1)]
    return None


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return np.asarray(np.trunc(a / b).astype(a.dtype))  # ONNX integer Div truncates
    return np.asarray(a / b, dtype=a.dtype)


def _slice(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    data, starts, ends = x[0], x[1], x[2]
    assert data is not None and starts is not None and ends is not None
    axes = x[3] if len(x) > 3 and x[3] is not None else np.arange(len(starts))
    steps = x[4] if len(x) > 4 and x[4] is not None else np.ones(len(starts), dtype=np.int64)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=False):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _unsqueeze(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    data, axes = x[0], _axes(attrs, x, 1) or []
    assert data is not None
    rank = data.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        data = np.expand_dims(data, a)
    return data


def _squeeze(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    data, axes = x[0], _axes(attrs, x, 1)
    assert data is not None
    return np.squeeze(data, axis=tuple(axes) if axes is not None else None)


def _cast(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None
    return x[0].astype(onnx.helper.tensor_dtype_to_np_dtype(int(attrs["to"])))


def _gather(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None
    _small([x[1].size, *x[0].shape[1:]])  # indices x the rest of a row
    return np.take(x[0], x[1].astype(np.int64), axis=int(attrs.get("axis", 0)))


def _reshape(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None
    shape = [int(s) if s != 0 else x[0].shape[i] for i, s in enumerate(x[1].reshape(-1))]
    return x[0].reshape(shape)


def _small(shape: Sequence[int]) -> list[int]:
    """``shape`` as ints, refusing (ValueError) anything larger than a shape tensor."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims) or _elements(dims) > MAX_ELEMENTS:
        raise ValueError("too large to fold")
    return dims


def _constant_of_shape(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None
    _small([int(d) for d in x[0].reshape(-1)])
    value = attrs.get("value")
    fill = inline_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    return np.full([int(d) for d in x[0].reshape(-1)], fill[0], dtype=fill.dtype)


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], exact: bool = False) -> Evaluator:
    """An element-wise op; ``exact``: integer results are computed with Python ints and an
    overflow of the integer type is an error (numpy would wrap 2**62 * 4 around to 0)."""

    def run(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
        a, b = x[0], x[1]
        assert a is not None and b is not None
        _small(np.broadcast_shapes(a.shape, b.shape))  # refuse before computing
        if exact and _integer(a) and _integer(b):
            dtype = np.result_type(a, b)
            return exact_integers(fn(a.astype(object), b.astype(object)), dtype)
        return np.asarray(fn(a, b))

    return run


def _integer(value: np.ndarray) -> bool:
    return bool(np.issubdtype(value.dtype, np.integer))


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> Evaluator:
    def run(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
        assert x[0] is not None
        return np.asarray(fn(x[0])).astype(x[0].dtype)

    return run


def _where(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None and x[2] is not None
    _small(np.broadcast_shapes(x[0].shape, x[1].shape, x[2].shape))
    return np.where(x[0], x[1], x[2])


def _concat(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    if sum(np.asarray(v).size for v in x) > MAX_ELEMENTS:
        raise ValueError("too large to fold")
    return np.concatenate([np.asarray(v) for v in x], axis=int(attrs.get("axis", 0)))


def _range(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None and x[2] is not None
    start, limit, delta = x[0].item(), x[1].item(), x[2].item()
    if not delta or not all(np.isfinite([start, limit, delta])):
        raise ValueError("an endless range")
    span = limit - start  # Python numbers: exact for integers, no wrap-around
    count = -(-span // delta) if isinstance(span, int) and isinstance(delta, int) else None
    _small([max(0, count if count is not None else int(np.ceil(span / delta)))])
    return np.arange(start, limit, delta, dtype=x[0].dtype)


def _expand(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None
    shape = np.broadcast_shapes(x[0].shape, tuple(int(d) for d in x[1].reshape(-1)))
    _small(shape)
    return np.broadcast_to(x[0], shape).copy()


def _transpose(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None
    perm = attrs.get("perm")
    return np.transpose(x[0], list(perm) if perm is not None else None)


def _tile(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None and x[1] is not None
    reps = [int(r) for r in x[1].reshape(-1)]
    rank = max(len(reps), x[0].ndim)  # numpy pads the shorter of the two with leading 1s
    shape = [1] * (rank - x[0].ndim) + list(x[0].shape)
    _small([a * b for a, b in zip(shape, [1] * (rank - len(reps)) + reps, strict=True)])
    return np.tile(x[0], reps)


def _flatten(x: Sequence[np.ndarray | None], attrs: dict[str, Any]) -> np.ndarray:
    assert x[0] is not None
    axis = int(attrs.get("axis", 1)) % max(1, x[0].ndim)
    return x[0].reshape(int(np.prod(x[0].shape[:axis])), -1)


def _reduce_prod(data: np.ndarray | None, keepdims: bool) -> np.ndarray:
    assert data is not None
    if _integer(data):
        product = exact_integers(np.array(element_count(data.reshape(-1))), data.dtype)
        return product.reshape([1] * data.ndim) if keepdims else product
    return np.asarray(np.prod(data, keepdims=keepdims))


EVALUATORS: Mapping[str, Evaluator] = MappingProxyType(
    {
        "Transpose": _transpose,
        "Tile": _tile,
        "Flatten": _flatten,
        "Identity": _unary(lambda a: a),
        "Cast": _cast,
        "Gather": _gather,
        "Unsqueeze": _unsqueeze,
        "Squeeze": _squeeze,
        "Concat": _concat,
        "Slice": _slice,
        "Reshape": _reshape,
        "ConstantOfShape": _constant_of_shape,
        "Range": _range,
        "Expand": _expand,
        "Where": _where,
        "Add": _binary(np.add, exact=True),
        "Sub": _binary(np.subtract, exact=True),
        "Mul": _binary(np.multiply, exact=True),
        "Div": _binary(_int_div),
        "Mod": _binary(np.fmod),
        "Min": _binary(np.minimum),
        "Max": _binary(np.maximum),
        "Equal": _binary(np.equal),
        "Less": _binary(np.less),
        "Greater": _binary(np.greater),
        "And": _binary(np.logical_and),
        "Or": _binary(np.logical_or),
        "Not": _unary(np.logical_not),
        "Neg": _unary(np.negative),
        "Abs": _unary(np.abs),
        "Floor": _unary(np.floor),
        "Ceil": _unary(np.ceil),
        "Sqrt": _unary(np.sqrt),
        "ReduceProd": lambda x, a: _reduce_prod(x[0], bool(a.get("keepdims", 1))),
    }
)


def complete_shapes(
    graph: onnx.GraphProto,
    shapes: ShapeMap,
    opsets: Sequence[onnx.OperatorSetIdProto],
    drawn: set[str] | None = None,
) -> ShapeMap:
    """Fill the shapes whole-graph inference left unknown, in one topological pass: each node
    with an unknown output is re-inferred alone with the folded values of its small inputs,
    and each node's small output is folded for the nodes after it. A RandomUniform folds to
    its largest draw (drawn.py); ``drawn`` collects those that fixed an activation's shape."""
    from validator.graph.loops import loop_shapes  # loops builds on this module

    shapes = dict(shapes)
    values: Values = {}
    for tensor in graph.initializer:
        if _elements(tensor.dims) <= MAX_ELEMENTS and not _external(tensor):
            values[tensor.name] = inline_array(tensor)
    version = {o.domain or "": o.version for o in opsets}
    origins: dict[str, frozenset[str]] = {}  # folded value -> random operators behind it
    for node in graph.node:  # exported graphs are topologically sorted (checker enforces it)
        random_in = frozenset().union(*(origins.get(n, frozenset()) for n in node.input))
        inferred: ShapeMap = {}
        if node.op_type == "Loop":  # ONNX drops loop-carried shapes: infer the body alone
            shapes.update(loop_shapes(node, shapes, values, opsets, complete_shapes))
        elif any(n and not _known(shapes.get(n)) for n in node.output):
            inferred = _infer_node(node, shapes, values, version, opsets)
            shapes.update(inferred)
        result = _evaluate(node, values, shapes)
        if result is not None and result.size <= MAX_ELEMENTS and node.output:
            values[node.output[0]] = result
            shapes[node.output[0]] = TensorShape(_elem_type(result), tuple(result.shape))
            origin = random_in | ({label(node)} if node.op_type in BOUNDED else set())
            if origin:
                origins[node.output[0]] = origin
        elif drawn is not None and random_in and any(s.known for s in inferred.values()):
            drawn.update(random_in)  # an activation sized by a drawn value
    return shapes


def _known(shape: TensorShape | None) -> bool:
    return shape is not None and shape.known


def _elem_type(value: np.ndarray) -> int:
    return int(onnx.helper.np_dtype_to_tensor_dtype(value.dtype))


def _infer_node(
    node: onnx.NodeProto,
    shapes: ShapeMap,
    values: Values,
    version: dict[str, int],
    opsets: Sequence[onnx.OperatorSetIdProto],
) -> ShapeMap:
    domain = "" if node.domain == "ai.onnx" else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, version.get(domain, 1), domain)
        types = {n: _type_proto(shapes[n]) for n in node.input if n and n in shapes}
        data = {n: numpy_helper.from_array(values[n], n) for n in node.input if n in values}
        inferred = onnx.shape_inference.infer_node_outputs(
            schema, node, types, data, opset_imports=list(opsets)
        )
    except Exception:  # no schema, a missing input type, or an inference error: stay unknown
        return {}
    out: ShapeMap = {}
    for name, type_proto in inferred.items():
        shape = value_shape(type_proto)
        if shape is not None and (shape.known or not _known(shapes.get(name))):
            out[name] = shape
    return out


def _type_proto(shape: TensorShape) -> onnx.TypeProto:
    dims = list(shape.dims) if shape.dims is not None else None
    return onnx.helper.make_tensor_type_proto(shape.elem_type, dims)


def _evaluate(node: onnx.NodeProto, values: Values, shapes: ShapeMap) -> np.ndarray | None:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Constant":
        tensor = attrs.get("value")
        if not isinstance(tensor, onnx.TensorProto) or _external(tensor):
            return None
        return inline_array(tensor) if _elements(tensor.dims) <= MAX_ELEMENTS else None
    if node.op_type in ("Shape", "Size"):
        return _shape_value(node, attrs, shapes)
    if node.op_type in BOUNDED:
        return largest_draw(node, attrs, shapes)
    evaluator = EVALUATORS.get(node.op_type)
    if evaluator is None or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    inputs = [values.get(n) if n else None for n in node.input]
    if any(v is None for v, n in zip(inputs, node.input, strict=True) if n):
        return None
    try:
        return np.asarray(evaluator(inputs, attrs))
    except Int64Overflow as exc:  # a wrapped-around number would become a wrong shape
        name = node.name or node.output[0]
        raise AnalysisLimit(
            f"shape arithmetic overflows int64 at {node.op_type} node {name!r} ({exc})"
        ) from None
    except Exception:  # an op variant we do not model: leave the value unknown
        return None


def _shape_value(
    node: onnx.NodeProto, attrs: dict[str, Any], shapes: ShapeMap
) -> np.ndarray | None:
    shape = shapes.get(node.input[0]) if node.input else None
    if shape is None or not shape.known or shape.dims is None:
        return None
    dims = np.array(shape.dims, dtype=np.int64)
    if node.op_type == "Size":
        count = element_count(shape.dims)
        if count > INT64_MAX:
            raise AnalysisLimit(f"Size of {node.input[0]!r} is {count}: it overflows int64")
        return np.array(count, dtype=np.int64)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return dims[start : int(end) if end is not None else None]


def _external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL


def _elements(dims: Sequence[int]) -> int:
    total = 1
    for d in dims:
        total *= int(d)
    return total
