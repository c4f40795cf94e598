"""What onnx.checker needs of a loaded model, without the bytes of its large weights.

The checker takes a path, serialized bytes or a ModelProto, and parses or serializes the whole
model whichever it gets: on a 100 MB model, re-parsing the file in C++ cost as much as loading
it. Everything it checks of a large raw-data initializer (one value field, enough bytes for the
dims) validator.loading.model has checked already, exactly, so the checker is given a copy in which
each such tensor is a one-element stand-in of the same name, type and rank.
"""

from __future__ import annotations

import onnx
from google.protobuf.message import Message

from validator.loading.tensors import ELEMENT_BYTES, declared_elements

_STUB_OVER = 4096  # bytes of raw data above which the checker sees a one-element stand-in
_VALUE_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data",
                 "uint64_data")  # fmt: skip


def checker_copy(proto: onnx.ModelProto) -> onnx.ModelProto | None:
    """The model with each large raw-data initializer of the main graph replaced by a
    one-element stand-in of the same name, type and rank, or None when there is too little to
    gain. The checker's verdict is the same: what it checks of those tensors (one value field,
    enough bytes for the dims) validator.loading.model already checked, more strictly, and checking
    this copy saves parsing the whole file again in C++ (most of a 100 MB model is weights)."""
    graph = proto.graph
    large = [_stubbable(t) for t in graph.initializer]
    if sum(large) < 1_000_000:
        return None
    copy = onnx.ModelProto()
    _copy_fields(proto, copy, skip="graph")
    _copy_fields(graph, copy.graph, skip="initializer")
    for tensor, size in zip(graph.initializer, large, strict=True):
        if not size:
            copy.graph.initializer.append(tensor)
            continue
        stub = copy.graph.initializer.add()
        stub.name, stub.data_type = tensor.name, tensor.data_type
        stub.dims.extend([1] * len(tensor.dims))
        stub.raw_data = bytes(ELEMENT_BYTES[tensor.data_type])
    return copy


def _stubbable(tensor: onnx.TensorProto) -> int:
    """Bytes of a large inline raw-data tensor with no other value field (0 otherwise)."""
    itemsize = ELEMENT_BYTES.get(tensor.data_type)
    if itemsize is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return 0
    size = declared_elements(tensor) * itemsize
    if size <= _STUB_OVER or not tensor.HasField("raw_data"):
        return 0
    return 0 if any(len(getattr(tensor, f)) for f in _VALUE_FIELDS) else size


def _copy_fields(source: Message, target: Message, skip: str) -> None:
    """Copy every set field of ``source`` but ``skip`` into ``target`` (same message type)."""
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if hasattr(value, "extend"):  # a repeated field
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)
