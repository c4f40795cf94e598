"""How to fix the rule breaks users meet most: one short hint per cause, shared by the checks
so that the terminal, the JSON report and the pytest plugin all say the same thing."""

from __future__ import annotations

import enum

import onnx

from validator.graph.index import GraphIndex

T = onnx.TensorProto


class Hint(str, enum.Enum):
    """A common cause of a broken rule, valued by the advice to fix it."""

    HALF = "export in float32: model.float() before torch.onnx.export; no autocast / .half()"
    QUANTISED = "the rules require FP32: export the unquantised model"
    DOUBLE = "cast to float32 (model.float(); float32 constants and inputs)"

    @classmethod
    def for_type(cls, elem_type: int) -> Hint:
        """The hint for weights, tensors or casts of ``elem_type`` (not float32)."""
        if elem_type in (T.FLOAT16, T.BFLOAT16):
            return cls.HALF
        if elem_type == T.DOUBLE:
            return cls.DOUBLE
        return cls.QUANTISED  # int8/uint8/int16 and the float8 formats


def opset_hint(limit: int) -> str:
    """How to get an opset the official environment loads."""
    return f"export with opset_version <= {limit} (torch.onnx.export(..., opset_version={limit}))"


def params_hint(over: int) -> str:
    """Where to cut when the parameter budget is exceeded."""
    return (
        f"cut at least {over:,} parameters from the heaviest layers (fewer channels, a smaller "
        "classifier head, shared or factorised weights)"
    )


def layers_of(index: GraphIndex, tensor: str, limit: int = 5) -> list[str]:
    """``name (OpType)`` of the layers that compute with ``tensor`` (see layers_using)."""
    return [index.describe(p) for p in index.layers_using(tensor, limit)]


def with_layer(index: GraphIndex, tensor: str) -> str:
    """``tensor -> first layer (OpType)``, or the tensor alone when no node reads it."""
    layers = index.layers_using(tensor, 1)
    return f"{tensor} -> {index.describe(layers[0])}" if layers else tensor
