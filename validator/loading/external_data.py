"""External data: every file a model points at must lie inside the model's own folder, be a
regular file (not a symlink), and hold the bytes its tensors claim. Files are only stat()ed."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx

from validator.loading.errors import ModelLoadError, os_reason, quote, show
from validator.loading.tensors import ELEMENT_BYTES, declared_elements


def external_data_files(tensors: Iterable[onnx.TensorProto], folder: Path) -> dict[Path, int]:
    """The distinct external data files and their sizes, each checked to lie inside ``folder``
    and to hold the bytes its tensors claim. Nothing is read: only stat()ed."""
    sizes: dict[Path, int] = {}
    root = _resolve(folder, "the model's folder")
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        target, size = _safe_location(tensor.name, info.get("location", ""), folder, root)
        _check_extent(tensor, info, target, size)
        sizes[target] = size
    return sizes


def _check_extent(tensor: onnx.TensorProto, info: dict[str, str], target: Path, size: int) -> None:
    name = quote(tensor.name)
    offset, length = _int_field(info, "offset", 0), _int_field(info, "length", -1)
    itemsize = ELEMENT_BYTES.get(tensor.data_type)
    wanted = None if itemsize is None else declared_elements(tensor) * itemsize
    if wanted is not None and length >= 0 and length != wanted:
        raise ModelLoadError(
            f"external data of {name} is {length} bytes but its shape "
            f"{show(str(list(tensor.dims)))} needs {wanted}"
        )
    length = length if length >= 0 else (wanted or 0)
    if offset < 0 or offset + length > size:
        raise ModelLoadError(
            f"external data of {name} wants bytes {offset}..{offset + length} "
            f"of {show(target.name)}, which has {size} bytes"
        )


def _safe_location(name: str, location: str, folder: Path, root: Path) -> tuple[Path, int]:
    """The resolved data file and its size; refuses anything that could read outside
    ``root`` (absolute paths, ``..``, symlinks leading out) or is not a regular file."""
    shown = show(location)
    if not location:
        raise ModelLoadError(f"tensor {quote(name)} is external but names no location")
    posix, windows = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise ModelLoadError(f"external data of {quote(name)} uses an absolute path ({shown})")
    if ".." in posix.parts or ".." in windows.parts:
        raise ModelLoadError(f"external data of {quote(name)} leaves the model's folder ({shown})")
    target = _resolve(folder / location, f"external data file {shown}")
    if not target.is_relative_to(root):
        raise ModelLoadError(
            f"external data of {quote(name)} resolves outside the model's folder ({shown})"
        )
    link = folder / location
    try:
        if not target.exists():
            broken = "a dangling or looping symlink" if link.is_symlink() else "missing"
            raise ModelLoadError(f"external data file {shown} of {quote(name)} is {broken}")
        if link.is_symlink():  # onnx.checker and onnxruntime refuse these too
            raise ModelLoadError(
                f"external data file {shown} of {quote(name)} is a symbolic link, which onnx "
                "refuses: copy the data in place"
            )
        if not target.is_file():
            raise ModelLoadError(f"external data {shown} of {quote(name)} is not a regular file")
        return target, target.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot open external data file {shown}: {os_reason(exc)}") from None


def _resolve(path: Path, what: str) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # RuntimeError: a symlink loop (3.11)
        raise ModelLoadError(f"cannot open {what}: {os_reason(exc)}") from None


def _int_field(info: dict[str, str], key: str, default: int) -> int:
    try:
        return int(info.get(key, default))
    except ValueError:
        raise ModelLoadError(
            f"external data {key} {quote(info.get(key, ''))} is not a number"
        ) from None
