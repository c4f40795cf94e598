"""validator.attacks.derandomise: every random operator stands in for its mean."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from validator.attacks.derandomise import derandomised

X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])


def _model(node: onnx.NodeProto) -> onnx.ModelProto:
    graph = helper.make_graph([node, helper.make_node("Add", ["x", "r"], ["y"])], "g", [X], [Y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


@pytest.mark.parametrize(
    ("node", "mean"),
    [
        (helper.make_node("RandomNormalLike", ["x"], ["r"], mean=0.5, scale=3.0), 0.5),
        (helper.make_node("RandomUniformLike", ["x"], ["r"], low=-1.0, high=3.0), 1.0),
        (helper.make_node("RandomNormal", [], ["r"], shape=[2, 3], mean=-2.0), -2.0),
        (helper.make_node("RandomUniform", [], ["r"], shape=[1, 3]), 0.5),
    ],
)
def test_a_draw_becomes_its_mean(node: onnx.NodeProto, mean: float) -> None:
    fixed = derandomised(_model(node))
    assert fixed is not None
    onnx.checker.check_model(fixed, full_check=True)
    session = onnxruntime.InferenceSession(fixed.SerializeToString())
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for _ in range(3):  # the same every run
        np.testing.assert_allclose(session.run(None, {"x": x})[0], x + mean, rtol=1e-6)


def test_bernoulli_stands_in_for_its_probabilities() -> None:
    fixed = derandomised(_model(helper.make_node("Bernoulli", ["x"], ["r"])))
    assert fixed is not None and [n.op_type for n in fixed.graph.node] == ["Identity", "Add"]


def test_a_draw_without_a_float_mean_is_refused() -> None:
    node = helper.make_node("RandomUniformLike", ["x"], ["r"], dtype=TensorProto.INT32)
    assert derandomised(_model(node)) is None


def test_the_original_is_left_as_it_was() -> None:
    model = _model(helper.make_node("RandomNormalLike", ["x"], ["r"]))
    derandomised(model)
    assert [n.op_type for n in model.graph.node] == ["RandomNormalLike", "Add"]
