"""Shape inference with the batch (and any other symbolic input dim) bound to a number.

ONNX shape inference runs on a skeleton of the model: large floating-point initializers keep
their dims but lose their data, so a 100 MB model is inferred as a model of a few hundred KB.
Data propagation (``data_prop``) resolves the Shape -> Gather -> Concat -> Reshape chains that
exporters emit for a dynamic batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import onnx

from validator.graph.index import GraphIndex, build_index
from validator.graph.limits import INT64_MAX, AnalysisLimit, element_count
from validator.loading.model import iter_graphs
from validator.loading.tensors import FLOAT_TYPES

_UNSEEN: Any = object()
_KEEP_DATA_UP_TO = 4096  # elements; larger float tensors are never needed by shape inference


class TensorShape(NamedTuple):
    """Element type and dims of one tensor; a dim is None when inference could not fix it.
    A NamedTuple rather than a dataclass: hashing and comparing in C keeps per-node lookups
    (the counting memo, shape equality) cheap on 200,000-node graphs."""

    elem_type: int
    dims: tuple[int | None, ...] | None  # None: rank unknown

    @property
    def known(self) -> bool:
        """True when the rank and every dim are known."""
        return self.dims is not None and None not in self.dims

    @property
    def numel(self) -> int | None:
        """Number of elements, or None when a dim is unknown."""
        if not self.known:
            return None
        total = 1
        for d in self.dims or ():
            total *= int(d or 0)
        return total


ShapeMap = dict[str, TensorShape]
# Measures shapes at run time: (graph input shapes, tensors wanted) -> the shapes it found.
ShapeProbe = Callable[[Mapping[str, TensorShape], Sequence[str]], ShapeMap]


def make_skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without the data of its large float initializers (dims and types kept) and
    without stale value_info: all shape inference needs, at a fraction of the size."""
    skeleton = onnx.ModelProto()
    skeleton.ir_version = model.ir_version
    skeleton.opset_import.extend(model.opset_import)
    skeleton.functions.extend(model.functions)
    source, graph = model.graph, skeleton.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.input.extend(source.input)
    graph.output.extend(source.output)
    for tensor in source.initializer:
        if tensor.data_type in FLOAT_TYPES and _elements(tensor) > _KEEP_DATA_UP_TO:
            stub = graph.initializer.add()  # dims and type only: no copy of the weights
            stub.name, stub.data_type = tensor.name, tensor.data_type
            stub.dims.extend(tensor.dims)
        else:
            graph.initializer.append(tensor)
    return skeleton


def infer_shapes(
    model: onnx.ModelProto,
    batch: int,
    size: int,
    *,
    skeleton: onnx.ModelProto | None = None,
    probe: ShapeProbe | None = None,
    notes: list[str] | None = None,
    index: GraphIndex | None = None,
) -> ShapeMap:
    """Shapes of every tensor in ``model`` (and its subgraphs) with symbolic input dims bound:
    the first to ``batch``, the others of a 4-D image input to 3 / ``size`` by position.
    Pass ``skeleton`` (from make_skeleton) to infer several batch sizes without rebuilding it.
    When static inference leaves gaps in the main graph, ``probe`` (if given) measures the
    missing shapes at run time and says so in ``notes``; shapes drawn by a random operator are
    folded at its largest draw, also noted. ``index`` (of ``model``'s main graph) spares a
    walk over its nodes' protobufs."""
    from validator.graph.drawn import note as drawn_note
    from validator.graph.folding import complete_shapes  # folding builds on this module

    bound = onnx.ModelProto()
    bound.CopyFrom(skeleton if skeleton is not None else make_skeleton(model))
    _bind_inputs(bound.graph, batch, size)
    inferred = _infer(bound)
    shapes = dict(_collect(inferred))
    if not _all_known(index or build_index(inferred.graph), shapes):
        drawn: set[str] = set()
        shapes = complete_shapes(inferred.graph, shapes, list(bound.opset_import), drawn)
        if drawn and notes is not None:
            notes.append(drawn_note(drawn))
        missing = _unknown(inferred.graph, shapes)
        if probe is not None and missing:
            _fill_from_probe(bound.graph, shapes, missing, probe, notes)
    _refuse_uncountable(shapes)
    return shapes


def _refuse_uncountable(shapes: ShapeMap) -> None:
    """A tensor with more elements than int64 can count is an error, not a figure."""
    for name, shape in shapes.items():
        if shape.known and element_count(shape.dims or ()) > INT64_MAX:
            dims = " x ".join(str(d) for d in shape.dims or ())
            raise AnalysisLimit(
                f"tensor {name!r} would have {dims} elements: more than int64 can count "
                "(shape arithmetic overflows int64)"
            )


def _unknown(graph: onnx.GraphProto, shapes: ShapeMap) -> list[str]:
    """Main-graph tensors (node outputs) whose shape is still not known."""
    return [
        name
        for node in graph.node
        for name in node.output
        if name and not (name in shapes and shapes[name].known)
    ]


def _fill_from_probe(
    graph: onnx.GraphProto,
    shapes: ShapeMap,
    missing: list[str],
    probe: ShapeProbe,
    notes: list[str] | None,
) -> None:
    initializers = {t.name for t in graph.initializer}
    inputs = {
        v.name: value_shape(v.type) or TensorShape(0, None)
        for v in graph.input
        if v.name not in initializers
    }
    measured = probe(inputs, missing)
    for name, shape in measured.items():
        static = shapes.get(name)
        elem_type = static.elem_type if static is not None and static.elem_type else shape.elem_type
        shapes[name] = TensorShape(elem_type, shape.dims)
    if measured and notes is not None:
        notes.append(
            f"static shape inference left {len(missing)} tensors unsized; {len(measured)} were "
            "measured by one onnxruntime run on zeros"
        )


def _infer(skeleton: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(
            skeleton, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception:  # inference is best effort: a failure leaves dims unknown, not a crash
        return skeleton


def _all_known(index: GraphIndex, shapes: ShapeMap) -> bool:
    if "Loop" in index.ops:
        return False  # ONNX inference never sizes loop-carried values inside the body
    for outputs in index.node_outputs:
        for name in outputs:
            shape = shapes.get(name)
            if name and (shape is None or not shape.known):
                return False
    return True


def _elements(tensor: onnx.TensorProto) -> int:
    total = 1
    for d in tensor.dims:
        total *= int(d)
    return total


def _bind_inputs(graph: onnx.GraphProto, batch: int, size: int) -> None:
    initializers = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        for position, dim in enumerate(dims):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                continue
            if position == 0:
                dim.dim_value = batch
            elif len(dims) == 4:
                dim.dim_value = 3 if position == 1 else size


def _collect(model: onnx.ModelProto) -> Iterator[tuple[str, TensorShape]]:
    # Most tensors share a few types: reading one serialized TypeProto is ~5x cheaper than
    # walking its dims, and equal bytes are an equal type. One object per distinct shape.
    by_bytes: dict[bytes, TensorShape | None] = {}
    for graph, _ in iter_graphs(model.graph):
        for tensor in graph.initializer:
            yield tensor.name, TensorShape(tensor.data_type, tuple(int(d) for d in tensor.dims))
        for value in (*graph.input, *graph.value_info, *graph.output):
            type_proto = value.type
            key = type_proto.SerializeToString()
            shape = by_bytes.get(key, _UNSEEN)
            if shape is _UNSEEN:
                shape = by_bytes[key] = value_shape(type_proto)
            if shape is not None:
                yield value.name, shape


def value_shape(type_proto: onnx.TypeProto) -> TensorShape | None:
    """TensorShape of a tensor TypeProto (None for sequences, maps, optionals)."""
    if not type_proto.HasField("tensor_type"):
        return None
    tensor_type = type_proto.tensor_type
    if not tensor_type.HasField("shape"):
        return TensorShape(tensor_type.elem_type, None)
    # A negative extent can only be a wrapped-around or made-up number: unknown, not a size.
    # dim_value reads 0 when unset (a dim_param or nothing): only then is HasField asked.
    # (A list comprehension is ~2x a generator on 200k tensors.)
    dims = [
        v if (v := d.dim_value) > 0 else (0 if v == 0 and d.HasField("dim_value") else None)
        for d in tensor_type.shape.dim
    ]
    return TensorShape(tensor_type.elem_type, tuple(dims))
