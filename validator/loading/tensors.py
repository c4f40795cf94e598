"""Facts about TensorProto and element types that several modules need."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import onnx
from onnx import numpy_helper

T = onnx.TensorProto

ELEMENT_BYTES: Mapping[int, int] = MappingProxyType(
    {
        T.FLOAT: 4, T.DOUBLE: 8, T.FLOAT16: 2, T.BFLOAT16: 2,
        T.INT8: 1, T.UINT8: 1, T.INT16: 2, T.UINT16: 2, T.INT32: 4, T.UINT32: 4,
        T.INT64: 8, T.UINT64: 8, T.BOOL: 1, T.COMPLEX64: 8, T.COMPLEX128: 16,
    }
)  # fmt: skip

FLOAT_TYPES = frozenset({T.FLOAT, T.DOUBLE, T.FLOAT16, T.BFLOAT16} | set(
    getattr(T, name) for name in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
                                  "FLOAT8E5M2FNUZ", "FLOAT4E2M1") if hasattr(T, name)
))  # fmt: skip

# Typed repeated fields and how many bytes one stored entry stands for, per element type.
_TYPED_FIELDS: Mapping[int, tuple[str, int]] = MappingProxyType(
    {
        T.FLOAT: ("float_data", 4), T.DOUBLE: ("double_data", 8),
        T.INT64: ("int64_data", 8), T.UINT64: ("uint64_data", 8),
        T.INT32: ("int32_data", 4), T.INT16: ("int32_data", 2), T.INT8: ("int32_data", 1),
        T.UINT8: ("int32_data", 1), T.UINT16: ("int32_data", 2), T.BOOL: ("int32_data", 1),
        T.FLOAT16: ("int32_data", 2), T.BFLOAT16: ("int32_data", 2),
        T.UINT32: ("uint64_data", 4),
    }
)  # fmt: skip


def type_name(elem_type: int) -> str:
    """``float32``-style name of an ONNX element type."""
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type).name)
    except (KeyError, ValueError, TypeError):
        name = T.DataType.Name(elem_type) if elem_type in T.DataType.values() else "unknown"
        return name.lower()


def declared_elements(tensor: onnx.TensorProto) -> int:
    """Number of elements the dims declare (1 for a scalar)."""
    return math.prod(int(d) for d in tensor.dims)


def stored_bytes(tensor: onnx.TensorProto) -> int | None:
    """Bytes of inline data the tensor actually holds, or None for types we do not size."""
    if tensor.HasField("raw_data"):
        return len(tensor.raw_data)
    entry = _TYPED_FIELDS.get(tensor.data_type)
    if entry is None:
        return None
    field, per_entry = entry
    return len(getattr(tensor, field)) * per_entry


def inline_array(tensor: onnx.TensorProto) -> np.ndarray:
    """The values stored in the model file itself. External data is refused (ValueError):
    numpy_helper.to_array would read it relative to the current directory, not the model's
    folder, so the analysis never reads it at all."""
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        raise ValueError(f"tensor {tensor.name!r} keeps its values in an external file")
    return np.asarray(numpy_helper.to_array(tensor))
