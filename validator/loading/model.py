"""Safe model loading: a file that is not a sound ONNX model becomes a reason, never a crash.

Order matters for safety: stat before reading, sniff the first bytes before parsing (a pickle is
never unpickled), walk the structure with explicit limits before handing anything to C++ code,
and resolve external data only inside the model's own folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from validator.loading.checker_copy import checker_copy
from validator.loading.errors import ModelLoadError, one_line, os_reason, quote, show
from validator.loading.external_data import external_data_files
from validator.loading.limits import check_function_expansion, check_opset_imports
from validator.loading.proto_walk import iter_tensors, scan
from validator.loading.reading import Digest, read_hashed
from validator.loading.tensors import ELEMENT_BYTES, declared_elements, stored_bytes
from validator.text import TextCollision, mend_model_text

__all__ = ["LoadedModel", "ModelLoadError", "iter_graphs", "iter_tensors", "load_model"]

PROTOBUF_LIMIT = 2**31 - 1  # protobuf cannot parse a message larger than this
MAX_SUBGRAPH_DEPTH = 32
_PICKLE = "a Python pickle (it was not unpickled; export the model with torch.onnx.export)"
_SIGNATURES = (
    *((b"\x80" + bytes([protocol]), _PICKLE) for protocol in range(2, 6)),
    (b"\x89HDF", "an HDF5 file (a Keras model?)"),
    (b"\x89PNG", "a PNG image"),
)


@dataclass(frozen=True)
class LoadedModel:
    """A parsed, checked ONNX model. ``proto`` holds inline weights only (external data is
    verified and measured but never loaded into memory)."""

    path: Path
    proto: onnx.ModelProto
    file_bytes: int
    external_data_bytes: int
    digest: Digest = field(repr=False, compare=False)
    # every TensorProto in the model, wherever it lives (the load's own walk, kept so that no
    # check walks the whole model again)
    tensors: tuple[onnx.TensorProto, ...] = field(default=(), repr=False, compare=False)

    @property
    def sha256(self) -> str:
        """SHA-256 of the model file. It is computed in a background thread from the moment
        the file is read; reading it as late as possible lets the hashing overlap analysis."""
        self.digest.join()
        return self.digest.hexdigest

    @property
    def total_bytes(self) -> int:
        """Model file plus external data files."""
        return self.file_bytes + self.external_data_bytes


def load_model(path: str | Path) -> LoadedModel:
    """Load and verify ``path``; raise ModelLoadError with a one-line reason on any problem."""
    path = Path(path)
    size = _model_size(path)
    data, digest = read_hashed(path, size)  # hashed as it is read, on a thread
    _refuse_foreign_format(bytes(data[:1024]))
    proto = _parse(data)
    found = scan(proto)  # every tensor and string, wherever it lives
    _mend_text(proto, found.invalid_text)
    _check_structure(proto, found.tensors)
    external = external_data_files(found.tensors, path.parent)
    # The checker reads external data relative to the model's path (given bytes, relative to
    # the current directory), so it needs the path then. Otherwise it checks a copy without
    # the weights' bytes (validator.loading.checker_copy), unless text was mended: then the
    # bytes read.
    light = None if external or found.invalid_text else checker_copy(proto)
    _run_checker(str(path) if external else light if light is not None else bytes(data))
    return LoadedModel(path, proto, size, sum(external.values()), digest, tuple(found.tensors))


def _model_size(path: Path) -> int:
    """Bytes of the model file, refusing what is not a regular file of a parseable size."""
    try:
        if path.is_dir():
            raise ModelLoadError(f"{show(str(path))} is a directory, not an .onnx file")
        if not path.exists():
            raise ModelLoadError(f"{show(str(path))} does not exist")
        if not path.is_file():
            raise ModelLoadError(f"{show(str(path))} is not a regular file")
        size = path.stat().st_size
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ModelLoadError(f"cannot open {show(str(path))}: {os_reason(exc)}") from None
    if size == 0:
        raise ModelLoadError("the file is empty (0 bytes)")
    if size > PROTOBUF_LIMIT:
        raise ModelLoadError(
            f"the file is {size} bytes; a protobuf over 2 GiB cannot be parsed "
            "(save the weights as ONNX external data)"
        )
    return size


def _refuse_foreign_format(data: bytes) -> None:
    if data.startswith(b"PK\x03\x04"):  # torch.save writes a zip whose first entry is data.pkl
        torch = b"data.pkl" in data[:1024]
        kind = "a PyTorch checkpoint (a zip with data.pkl)" if torch else "a zip archive"
        raise ModelLoadError(f"this is {kind}, not an ONNX model; nothing in it was unpickled")
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            raise ModelLoadError(f"this is {what}, not an ONNX model")


def _parse(data: memoryview) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise ModelLoadError(_decode_reason(exc)) from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise ModelLoadError("the protobuf holds no ONNX graph (no nodes)")
    if proto.ir_version <= 0:
        raise ModelLoadError("the protobuf has no ir_version: not an ONNX model")
    return proto


def _decode_reason(exc: BaseException) -> str:
    text = one_line(exc)
    if "MaxDepth" in text or isinstance(exc, RecursionError):
        return (
            "not a valid ONNX protobuf: messages are nested deeper than protobuf's limit of 100 "
            "(If/Loop subgraphs nested about 30 deep or more)"
        )
    detail = text.rsplit(": ", 1)[-1].lower()  # drop "Error parsing message with type ..."
    return f"not a valid ONNX protobuf: the file is corrupt or truncated ({detail})"


def _mend_text(proto: onnx.ModelProto, invalid: list[tuple[object, str, bool]]) -> None:
    try:
        mend_model_text(proto, invalid)
    except TextCollision as exc:
        raise ModelLoadError(f"text that is not UTF-8: {exc}") from None


def _check_structure(proto: onnx.ModelProto, tensors: list[onnx.TensorProto]) -> None:
    check_opset_imports(proto)
    newest = onnx.defs.onnx_opset_version()
    for opset in proto.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > newest:
            raise ModelLoadError(
                f"opset {opset.version} is newer than any this onnx knows (newest {newest})"
            )
    for _, depth in iter_graphs(proto.graph):
        if depth > MAX_SUBGRAPH_DEPTH:
            raise ModelLoadError(f"subgraphs are nested more than {MAX_SUBGRAPH_DEPTH} deep")
    for tensor in tensors:
        _check_tensor_size(tensor)
    check_function_expansion(proto)


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


def _check_tensor_size(tensor: onnx.TensorProto) -> None:
    if any(d < 0 for d in tensor.dims):
        raise ModelLoadError(f"tensor {quote(tensor.name)} declares a negative dimension")
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return  # checked against the file in external_data_files
    elements = declared_elements(tensor)
    have = stored_bytes(tensor)
    itemsize = ELEMENT_BYTES.get(tensor.data_type)
    if itemsize is None or have is None:
        return  # strings and exotic types: leave to the checker
    if elements * itemsize != have and not (elements == 0 and have == 0):
        raise ModelLoadError(
            f"tensor {quote(tensor.name)} declares shape {show(str(list(tensor.dims)))} "
            f"({elements} elements) but holds {have} bytes of data"
        )


def _run_checker(model: str | bytes | onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:
        raise ModelLoadError(f"onnx.checker: {_checker_reason(exc)}") from None
    except Exception as exc:  # the checker's C++ layer raises assorted types on hostile input
        raise ModelLoadError(f"onnx.checker failed: {one_line(exc)}") from None


def _checker_reason(exc: BaseException) -> str:
    text = one_line(exc)
    if "topologically sorted" in text:  # what the checker says about a cycle, too
        return f"the graph has a cycle or nodes out of order ({text})"
    return text
