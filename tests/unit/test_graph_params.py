"""Effective parameters (REPORT.md): what counts and what does not."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from validator.graph.analysis import analyse

F = TensorProto.FLOAT


def model(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", F, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", F, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.float32)


CASES = [
    ("conv weight and bias", [helper.make_node("Conv", ["x", "w", "b"], ["y"])],
     {"w": zeros(8, 4, 3, 3), "b": zeros(8)}, 8 * 36 + 8),
    ("batchnorm statistics are buffers",
     [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
     {"s": zeros(4), "b": zeros(4), "m": zeros(4), "v": zeros(4)}, 8),
    ("a scalar is a hyperparameter", [helper.make_node("Mul", ["x", "k"], ["y"])],
     {"k": zeros(1)}, 0),
    ("a shared weight counts once",
     [helper.make_node("Conv", ["x", "w"], ["a"]), helper.make_node("Conv", ["a", "w"], ["y"],
                                                                     pads=[1, 1, 1, 1])],
     {"w": zeros(4, 4, 1, 1)}, 16),
    ("a weight built from stored factors counts the factors",
     [helper.make_node("MatMul", ["u", "v"], ["w4"]),
      helper.make_node("Reshape", ["w4", "s"], ["w"]),
      helper.make_node("Conv", ["x", "w"], ["y"])],
     {"u": zeros(8, 2), "v": zeros(2, 4), "s": np.array([8, 4, 1, 1], np.int64)}, 16 + 8),
    ("a weight built at run time from a shape counts itself",
     [helper.make_node("ConstantOfShape", ["s"], ["w"],
                       value=helper.make_tensor("value", F, [1], [0.5])),
      helper.make_node("Conv", ["x", "w"], ["y"])],
     {"s": np.array([16, 4, 3, 3], np.int64)}, 16 * 36),
    ("random weights count too",
     [helper.make_node("RandomNormal", [], ["w"], shape=[16, 4, 1, 1]),
      helper.make_node("Conv", ["x", "w"], ["y"])], {}, 64),
    ("integer constants are not parameters", [helper.make_node("Reshape", ["x", "s"], ["y"])],
     {"s": np.array([1, -1], np.int64)}, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("nodes", "inits", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_effective_parameters(
    nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], expected: int
) -> None:
    assert analyse(model(nodes, inits)).params.total == expected
