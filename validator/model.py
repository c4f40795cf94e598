"""Safe model loading: a file that is not a sound ONNX model becomes a reason, never a crash.

Order matters for safety: stat before reading, sniff the first bytes before parsing (a pickle is
never unpickled), walk the structure with explicit limits before handing anything to C++ code,
and resolve external data only inside the model's own folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError

from validator.tensors import ELEMENT_BYTES, declared_elements, stored_bytes

PROTOBUF_LIMIT = 2**31 - 1  # protobuf cannot parse a message larger than this
MAX_SUBGRAPH_DEPTH = 32
_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth checkpoint or a zipped submission?)"),
    (b"\x80\x02", "a Python pickle (it was not unpickled)"),
    (b"\x80\x03", "a Python pickle (it was not unpickled)"),
    (b"\x80\x04", "a Python pickle (it was not unpickled)"),
    (b"\x80\x05", "a Python pickle (it was not unpickled)"),
    (b"\x89HDF", "an HDF5 file (a Keras model?)"),
    (b"\x89PNG", "a PNG image"),
)


class ModelLoadError(Exception):
    """The file is not a model robust-validate can analyse; ``reason`` is one line for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LoadedModel:
    """A parsed, checked ONNX model. ``proto`` holds inline weights only (external data is
    verified and measured but never loaded into memory)."""

    path: Path
    proto: onnx.ModelProto
    file_bytes: int
    external_data_bytes: int
    sha256: str

    @property
    def total_bytes(self) -> int:
        """Model file plus external data files."""
        return self.file_bytes + self.external_data_bytes


def load_model(path: str | Path) -> LoadedModel:
    """Load and verify ``path``; raise ModelLoadError with a one-line reason on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path} is not a file" if path.exists() else f"{path} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError("the file is empty (0 bytes)")
    if size > PROTOBUF_LIMIT:
        raise ModelLoadError(
            f"the file is {size} bytes; a protobuf over 2 GiB cannot be parsed "
            "(save the weights as ONNX external data)"
        )
    data = path.read_bytes()
    _refuse_foreign_format(data)
    proto = _parse(data)
    _check_structure(proto)
    external = _external_data_bytes(proto, path.parent)
    _run_checker(path)
    return LoadedModel(path, proto, size, external, hashlib.sha256(data).hexdigest())


def _refuse_foreign_format(data: bytes) -> None:
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise ModelLoadError(f"this is {what}, not an ONNX model")


def _parse(data: bytes) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ModelLoadError(f"not a valid ONNX protobuf ({_first_line(exc)})") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise ModelLoadError("the protobuf holds no ONNX graph (no nodes)")
    if proto.ir_version <= 0:
        raise ModelLoadError("the protobuf has no ir_version: not an ONNX model")
    return proto


def _check_structure(proto: onnx.ModelProto) -> None:
    newest = onnx.defs.onnx_opset_version()
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise ModelLoadError(
                f"opset {opset.version} is newer than any this onnx knows (newest {newest})"
            )
    for graph, depth in iter_graphs(proto.graph):
        if depth > MAX_SUBGRAPH_DEPTH:
            raise ModelLoadError(f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} deep")
        for tensor in _graph_tensors(graph):
            _check_tensor_size(tensor)


def iter_graphs(graph: onnx.GraphProto) -> Iterator[tuple[onnx.GraphProto, int]]:
    """The graph and every subgraph (If/Loop/Scan bodies) with its nesting depth, iteratively."""
    stack = [(graph, 0)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        if depth > MAX_SUBGRAPH_DEPTH:
            continue
        for node in current.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append((attr.g, depth + 1))
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    stack.extend((g, depth + 1) for g in attr.graphs)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors


def iter_tensors(proto: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor stored in the model: initializers and Constant values, in all subgraphs."""
    for graph, _ in iter_graphs(proto.graph):
        yield from _graph_tensors(graph)


def _check_tensor_size(tensor: onnx.TensorProto) -> None:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return  # checked against the file in _external_data_bytes
    if any(d < 0 for d in tensor.dims):
        raise ModelLoadError(f"tensor {tensor.name!r} declares a negative dimension")
    elements = declared_elements(tensor)
    have = stored_bytes(tensor)
    itemsize = ELEMENT_BYTES.get(tensor.data_type)
    if itemsize is None or have is None:
        return  # strings and exotic types: leave to the checker
    if elements * itemsize != have and not (elements == 0 and have == 0):
        raise ModelLoadError(
            f"tensor {tensor.name!r} declares shape {list(tensor.dims)} "
            f"({elements} elements) but holds {have} bytes of data"
        )


def _external_data_bytes(proto: onnx.ModelProto, folder: Path) -> int:
    sizes: dict[Path, int] = {}
    root = folder.resolve()
    for tensor in iter_tensors(proto):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        target = _safe_location(tensor.name, info.get("location", ""), folder, root)
        size = target.stat().st_size
        offset, length = _int_field(info, "offset", 0), _int_field(info, "length", -1)
        wanted = declared_elements(tensor) * ELEMENT_BYTES.get(tensor.data_type, 1)
        length = wanted if length < 0 else length
        if offset < 0 or offset + length > size:
            raise ModelLoadError(
                f"external data of {tensor.name!r} wants bytes {offset}..{offset + length} "
                f"of {target.name}, which has {size}"
            )
        sizes[target] = size
    return sum(sizes.values())


def _safe_location(name: str, location: str, folder: Path, root: Path) -> Path:
    if not location:
        raise ModelLoadError(f"tensor {name!r} is external but names no location")
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise ModelLoadError(f"external data of {name!r} uses an absolute path ({location})")
    if ".." in posix.parts or ".." in windows.parts:
        raise ModelLoadError(f"external data of {name!r} leaves the model's folder ({location})")
    target = (folder / location).resolve()
    if not target.is_relative_to(root):
        raise ModelLoadError(
            f"external data of {name!r} resolves outside the model's folder ({location})"
        )
    if not target.is_file():
        raise ModelLoadError(f"external data file {location} of {name!r} is missing")
    return target


def _int_field(info: dict[str, str], key: str, default: int) -> int:
    try:
        return int(info.get(key, default))
    except ValueError:
        raise ModelLoadError(f"external data {key} {info.get(key)!r} is not a number") from None


def _run_checker(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path))
    except (onnx.checker.ValidationError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        raise ModelLoadError(f"onnx.checker: {_first_line(exc)}") from None
    except Exception as exc:  # the checker's C++ layer raises assorted types on hostile input
        raise ModelLoadError(f"onnx.checker failed: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
