"""Every tensor and every string of an ONNX model, found from protobuf's schema, not a list.

A TensorProto can live in graph initializers, node attributes, subgraphs at any depth,
model-local functions, sparse tensors (values and indices) and training_info; strings (names,
domains, doc strings, dim params, metadata) live in almost every message. Listing those places
by hand misses the next one onnx adds, so this walk visits every set message field (protobuf
itself bounds the nesting at parse time, and the walk keeps its own stack, not Python's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["ModelScan", "iter_string_fields", "iter_tensors", "scan"]

_SKIP, _STRING, _STRINGS, _MESSAGE, _MESSAGES = range(5)
_KINDS: dict[FieldDescriptor, int] = {}
_TENSOR = onnx.TensorProto.DESCRIPTOR


def _kind(fd: FieldDescriptor) -> int:
    kind = _KINDS.get(fd)
    if kind is None:
        repeated = getattr(fd, "is_repeated", None)  # protobuf >= 5.28; ``label`` went in 7
        if repeated is None:
            repeated = fd.label == FieldDescriptor.LABEL_REPEATED
        base = {FieldDescriptor.TYPE_STRING: _STRING, FieldDescriptor.TYPE_MESSAGE: _MESSAGE}
        kind = base.get(fd.type, _SKIP)
        kind += 1 if repeated and kind != _SKIP else 0
        _KINDS[fd] = kind
    return kind


@dataclass
class ModelScan:
    """What one walk found: every TensorProto, and every string field holding bytes that are
    not UTF-8 (protobuf returns ``bytes`` for those), as (message, field name, repeated)."""

    tensors: list[onnx.TensorProto] = field(default_factory=list)
    invalid_text: list[tuple[Message, str, bool]] = field(default_factory=list)


def scan(root: Message) -> ModelScan:
    """Walk every set field under ``root`` once (ListFields: one call per message)."""
    found = ModelScan()
    stack = [root]
    while stack:
        message = stack.pop()
        if message.DESCRIPTOR is _TENSOR:
            found.tensors.append(message)  # type: ignore[arg-type]
            continue  # a tensor holds no tensors; its strings are names and locations
        children: list[Message] = []
        for fd, value in message.ListFields():
            kind = _KINDS.get(fd)
            if kind is None:
                kind = _kind(fd)
            if kind == _MESSAGE:
                children.append(value)
            elif kind == _MESSAGES:
                children.extend(value)
            elif kind == _STRING and type(value) is bytes:
                found.invalid_text.append((message, fd.name, False))
            elif kind == _STRINGS and bytes in map(type, value):
                found.invalid_text.append((message, fd.name, True))
        stack.extend(reversed(children))  # depth first in file order: findings list it so
    for tensor in found.tensors:  # names and external data keys of tensors are text too
        _tensor_text(tensor, found)
    return found


def _tensor_text(tensor: onnx.TensorProto, found: ModelScan) -> None:
    for name in ("name", "doc_string"):
        if type(getattr(tensor, name)) is bytes:
            found.invalid_text.append((tensor, name, False))
    for entry in tensor.external_data:
        for name in ("key", "value"):
            if type(getattr(entry, name)) is bytes:
                found.invalid_text.append((entry, name, False))


def iter_tensors(root: Message) -> Iterator[onnx.TensorProto]:
    """Every TensorProto anywhere under ``root``: initializers, attribute values, subgraphs,
    model-local functions, sparse values and indices, training_info."""
    yield from scan(root).tensors


def iter_string_fields(root: Message) -> Iterator[tuple[Message, str, bool]]:
    """(message, field name, repeated) of every string field set anywhere under ``root``."""
    stack = [root]
    while stack:
        message = stack.pop()
        for fd, value in message.ListFields():
            kind = _kind(fd)
            if kind == _MESSAGE:
                stack.append(value)
            elif kind == _MESSAGES:
                stack.extend(value)
            elif kind in (_STRING, _STRINGS):
                yield message, fd.name, kind == _STRINGS
