"""Shapes inside Loop bodies.

ONNX shape inference drops the shapes of loop-carried values (they may change from one
iteration to the next), so every tensor in a body, and everything after the Loop, stays
unknown and uncounted. Here the body is inferred as a graph of its own, its inputs bound to
what the Loop receives: the iteration number and condition are scalars, each carried value
starts with the shape of its initial value, and the tensors the body reads from the enclosing
scope keep their shapes (small ones their folded values). The body is inferred again with the
carried shapes it produced until they stop changing; dims that keep changing become unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from validator.graph.shapes import ShapeMap, TensorShape, value_shape

MAX_PASSES = 3  # a carried shape that still changes after this many passes is left unknown
MAX_BODY_NODES = 20_000  # a larger body is not inferred (bounded work on hostile files)

Values = dict[str, np.ndarray]
Complete = Callable[[onnx.GraphProto, ShapeMap, Sequence[onnx.OperatorSetIdProto]], ShapeMap]


def loop_shapes(
    node: onnx.NodeProto,
    shapes: ShapeMap,
    values: Values,
    opsets: Sequence[onnx.OperatorSetIdProto],
    complete: Complete,
) -> ShapeMap:
    """Shapes of the tensors in ``node``'s body and of its outputs. ``complete`` fills what
    ONNX inference leaves unknown in the body (folding.complete_shapes, passed in to avoid an
    import cycle)."""
    body = next((a.g for a in node.attribute if a.name == "body"), None)
    if body is None or len(body.node) > MAX_BODY_NODES or len(body.input) < 2:
        return {}
    carried = [shapes.get(n) if n else None for n in node.input[2:]]
    found: ShapeMap = {}
    for _ in range(MAX_PASSES):
        found = _infer_body(body, carried, shapes, values, opsets, complete)
        produced = [found.get(o.name) for o in body.output[1 : 1 + len(carried)]]
        merged = [_merge(a, b) for a, b in zip(carried, produced, strict=True)]
        if merged == carried:
            break
        carried = merged
    else:
        found = _infer_body(body, carried, shapes, values, opsets, complete)
    return found | _outputs(node, body, carried, found, _trip_count(node, values))


def _infer_body(
    body: onnx.GraphProto,
    carried: list[TensorShape | None],
    outer: ShapeMap,
    values: Values,
    opsets: Sequence[onnx.OperatorSetIdProto],
    complete: Complete,
) -> ShapeMap:
    graph = _standalone(body, carried, outer, values)
    model = onnx.helper.make_model(graph, opset_imports=list(opsets))
    try:
        inferred = onnx.shape_inference.infer_shapes(
            model, check_type=False, strict_mode=False, data_prop=True
        ).graph
    except Exception:  # best effort, like whole-graph inference
        inferred = graph
    found: ShapeMap = {}
    for value in (*inferred.input, *inferred.value_info, *inferred.output):
        shape = value_shape(value.type)
        if shape is not None:
            found[value.name] = shape
    for tensor in inferred.initializer:
        found[tensor.name] = TensorShape(tensor.data_type, tuple(int(d) for d in tensor.dims))
    return complete(inferred, outer | found, opsets)


def _standalone(
    body: onnx.GraphProto,
    carried: list[TensorShape | None],
    outer: ShapeMap,
    values: Values,
) -> onnx.GraphProto:
    """The body as a main graph: bound inputs, and the enclosing scope's tensors it reads as
    inputs (or, for small folded values, initializers)."""
    graph = onnx.GraphProto()
    graph.CopyFrom(body)
    del graph.value_info[:]
    bound = [TensorShape(onnx.TensorProto.INT64, ()), TensorShape(onnx.TensorProto.BOOL, ())]
    for value, shape in zip(graph.input, [*bound, *carried], strict=False):
        if shape is not None:
            value.type.CopyFrom(_type_proto(shape))
    local = {v.name for v in graph.input} | {t.name for t in graph.initializer}
    local |= {o for n in graph.node for o in n.output}
    for name in dict.fromkeys(i for n in graph.node for i in n.input):
        if not name or name in local:
            continue
        if name in values:
            graph.initializer.append(numpy_helper.from_array(values[name], name))
        elif name in outer:
            graph.input.append(onnx.helper.make_value_info(name, _type_proto(outer[name])))
    return graph


def _type_proto(shape: TensorShape) -> onnx.TypeProto:
    dims = list(shape.dims) if shape.dims is not None else None
    return onnx.helper.make_tensor_type_proto(shape.elem_type, dims)


def _merge(a: TensorShape | None, b: TensorShape | None) -> TensorShape | None:
    """The shape both iterations agree on (dims that differ become unknown)."""
    if a is None or b is None:
        return a or b
    if a.dims is None or b.dims is None or len(a.dims) != len(b.dims):
        return TensorShape(a.elem_type, None)
    dims = tuple(x if x == y else None for x, y in zip(a.dims, b.dims, strict=True))
    return TensorShape(a.elem_type, dims)


def _trip_count(node: onnx.NodeProto, values: Values) -> int | None:
    value = values.get(node.input[0]) if node.input and node.input[0] else None
    if value is None or value.size != 1:
        return None
    return int(value.reshape(-1)[0])


def _outputs(
    node: onnx.NodeProto,
    body: onnx.GraphProto,
    carried: list[TensorShape | None],
    found: ShapeMap,
    trips: int | None,
) -> ShapeMap:
    """The Loop's outputs: final carried values, then scan outputs stacked over iterations."""
    out: ShapeMap = {}
    scans = [found.get(o.name) for o in body.output[1 + len(carried) :]]
    for name, shape in zip(node.output, [*carried, *_stacked(scans, trips)], strict=False):
        if name and shape is not None:
            out[name] = shape
    return out


def _stacked(scans: list[TensorShape | None], trips: int | None) -> list[TensorShape | None]:
    result: list[TensorShape | None] = []
    for shape in scans:
        if shape is None or shape.dims is None:
            result.append(shape)
        else:
            result.append(TensorShape(shape.elem_type, (trips, *shape.dims)))
    return result
