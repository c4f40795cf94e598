"""A random model with each random operator replaced by its distribution's mean, so that its
PyTorch rendering can be checked against onnxruntime value for value.

Random layers cannot be compared run for run (the two runtimes draw differently) and averages
of a few runs tell a faithful rendering from a wrong one only when the outputs vary little.
With every draw fixed at its mean, both runtimes compute the same deterministic function, and
the check covers every operator but the samplers themselves (a few lines of torch each).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from validator.loading.model import iter_graphs

FLOAT_TYPES: dict[int, type[np.floating[Any]]] = {
    int(TensorProto.FLOAT): np.float32,
    int(TensorProto.DOUBLE): np.float64,
}


def derandomised(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """A copy of ``model`` whose random operators output their mean; None when one has no
    stand-in here (Multinomial, a non-float draw)."""
    fixed = copy.deepcopy(model)
    for graph, _ in iter_graphs(fixed.graph):
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if node.domain in ("", "ai.onnx") and node.op_type.startswith(
                ("Random", "Bernoulli", "Multinomial")
            ):
                standing = _stand_in(node)
                if standing is None:
                    return None
                nodes.extend(standing)
            else:
                nodes.append(node)
        del graph.node[:]
        graph.node.extend(nodes)
    return fixed


def _stand_in(node: onnx.NodeProto) -> list[onnx.NodeProto] | None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    out, name = node.output[0], node.name or node.output[0]
    if node.op_type == "Bernoulli":  # its mean is its input, the probabilities
        return [helper.make_node("Identity", [node.input[0]], [out], name=f"{name}/mean")]
    dtype = int(attrs.get("dtype", TensorProto.FLOAT))
    if node.op_type.endswith("Like") and "dtype" not in attrs:
        dtype = TensorProto.FLOAT  # the input's type; the interpreter draws float for floats
    if dtype not in FLOAT_TYPES or node.op_type == "Multinomial":
        return None
    if node.op_type in ("RandomNormal", "RandomNormalLike"):
        mean = float(attrs.get("mean", 0.0))
    else:
        mean = (float(attrs.get("low", 0.0)) + float(attrs.get("high", 1.0))) / 2
    if node.op_type.endswith("Like"):  # x * 0 + mean keeps x's shape
        zero, level = f"{name}/zero", f"{name}/mean_value"
        return [
            helper.make_node("Constant", [], [zero], value=_scalar(0.0, dtype)),
            helper.make_node("Constant", [], [level], value=_scalar(mean, dtype)),
            helper.make_node("Mul", [node.input[0], zero], [f"{name}/zeros"]),
            helper.make_node("Add", [f"{name}/zeros", level], [out]),
        ]
    shape = [int(d) for d in attrs.get("shape", [])]
    filled = np.full(shape, mean, dtype=FLOAT_TYPES[dtype])
    return [helper.make_node("Constant", [], [out], value=numpy_helper.from_array(filled))]


def _scalar(value: float, dtype: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=FLOAT_TYPES[dtype]))
