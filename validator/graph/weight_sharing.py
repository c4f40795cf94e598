"""Do two branches run the same weights? By tensor identity, else by stored values.

Flip test-time augmentation exported from one module reads the same weight tensors in both
branches. A hand-duplicated copy has its own tensors with identical values; that is recognised
when the file holds the values (weight-free files with zero-fillers cannot tell, so their
distinctly named weights count as distinct models).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import onnx
from onnx import numpy_helper

from validator.graph.dataflow import DataFlow

SAME_WEIGHTS = 0.5  # branches sharing at least this share of weight tensors are one model
_PASS_THROUGH = frozenset(
    {
        "Identity",
        "Cast",
        "Transpose",
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Flatten",
        "DequantizeLinear",
    }
)


def weight_roots(flow: DataFlow, nodes: Sequence[int]) -> list[str]:
    """Source tensors of the weight operands of the weighted layers in ``nodes`` (each once)."""
    roots = []
    producer, graph = flow.index.producer, flow.index.graph
    for position in nodes:
        if not flow.weighted(position):
            continue
        for name in flow.inputs(position)[:2]:
            if not name or name in flow.data:
                continue
            while name in producer and graph.node[producer[name]].op_type in _PASS_THROUGH:
                name = graph.node[producer[name]].input[0]
            roots.append(name)
    return list(dict.fromkeys(roots))


def _content_key(flow: DataFlow, name: str) -> str | None:
    """A digest of a weight's stored values; None when the file holds none (zero-fillers,
    generated or external tensors)."""
    tensor = flow.index.initializers.get(name)
    if tensor is None and name in flow.index.producer:
        node = flow.node(flow.index.producer[name])
        if node.op_type != "Constant":
            return None
        tensor = next((a.t for a in node.attribute if a.name == "value"), None)
    if tensor is None or tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    try:
        values = numpy_helper.to_array(tensor)
    except Exception:  # unreadable values cannot show two tensors are equal
        return None
    digest = hashlib.blake2b(values.tobytes(), digest_size=16)
    digest.update(str((values.dtype, values.shape)).encode())
    return digest.hexdigest()


class _Keys:
    """Content digests of weight tensors, each computed at most once."""

    def __init__(self, flow: DataFlow) -> None:
        self.flow = flow
        self.cache: dict[str, str | None] = {}

    def __call__(self, name: str) -> str | None:
        if name not in self.cache:
            self.cache[name] = _content_key(self.flow, name)
        return self.cache[name]


def _same_weights(keys: _Keys, a: list[str], b: list[str]) -> bool:
    if not a or not b:
        return False
    if len(set(a) & set(b)) >= SAME_WEIGHTS * min(len(a), len(b)):
        return True
    if len(a) != len(b):
        return False
    keys_a, keys_b = [keys(n) for n in a], [keys(n) for n in b]
    if None in keys_a or None in keys_b:
        return False
    return sorted(k or "" for k in keys_a) == sorted(k or "" for k in keys_b)


def weight_groups(flow: DataFlow, roots: Sequence[list[str]]) -> list[int]:
    """A model number (1-based) per branch, given each branch's weight roots: branches with
    the same weights share a number."""
    keys = _Keys(flow)
    models: list[int] = []
    for i, mine in enumerate(roots):
        same = next((models[j] for j in range(i) if _same_weights(keys, roots[j], mine)), None)
        models.append(same if same is not None else max(models, default=0) + 1)
    return models


def architecture_note(flow: DataFlow, roots: Sequence[list[str]], models: list[int]) -> str:
    """Say so when distinct models have identical layer shapes (one architecture trained twice)."""
    signatures: dict[int, tuple[tuple[int, ...], ...]] = {}
    for names, model in zip(roots, models, strict=True):
        shapes = sorted(flow.dims(n) or () for n in names)
        signatures.setdefault(model, tuple(shapes))
    if len(signatures) >= 2 and len(set(signatures.values())) == 1:
        return "; the models have identical layer shapes (one architecture, distinct weights)"
    return ""
