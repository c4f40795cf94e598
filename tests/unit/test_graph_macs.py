"""Multiply-add rules per operator and convention, on one-node graphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from validator.graph.analysis import analyse
from validator.vocab import MacsConvention

PT, TV, FULL = MacsConvention.PTFLOPS, MacsConvention.TORCHVISION, MacsConvention.FULL


def one_node(
    op: str,
    inputs: dict[str, list[int]],
    weights: dict[str, list[int]],
    **attrs: object,
) -> onnx.ModelProto:
    """A graph of one ``op`` node: ``inputs`` are graph inputs, ``weights`` initializers."""
    names = list(inputs) + list(weights)
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in weights.items()],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CASES = [
    # id, op, inputs, weights, attrs, (ptflops, torchvision, full)
    ("conv", "Conv", {"x": [1, 3, 8, 8]}, {"w": [4, 3, 3, 3]}, {"pads": [1, 1, 1, 1]},
     (4 * 64 * 27, 4 * 64 * 27, 4 * 64 * 27)),
    ("conv+bias", "Conv", {"x": [1, 3, 8, 8]}, {"w": [4, 3, 3, 3], "b": [4]},
     {"pads": [1, 1, 1, 1]}, (4 * 64 * 28, 4 * 64 * 27, 4 * 64 * 28)),
    ("grouped conv", "Conv", {"x": [1, 8, 4, 4]}, {"w": [8, 2, 1, 1]}, {"group": 4},
     (8 * 16 * 2, 8 * 16 * 2, 8 * 16 * 2)),
    ("conv transpose stride 2", "ConvTranspose", {"x": [1, 4, 4, 4]}, {"w": [4, 2, 2, 2]},
     {"strides": [2, 2]}, (4 * 2 * 4 * 64, 64 * 8, 64 * 8)),  # ptflops: stride^2 too many
    ("gemm linear", "Gemm", {"x": [2, 5]}, {"w": [7, 5], "b": [7]}, {"transB": 1},
     (2 * 5 * 7 + 14, 70, 84)),
    ("matmul weight", "MatMul", {"x": [1, 10, 6]}, {"w": [6, 4]}, {}, (240, 240, 240)),
    ("matmul attention", "MatMul", {"q": [1, 2, 10, 8], "k": [1, 2, 8, 10]}, {}, {},
     (0, 1600, 1600)),  # activation x activation: ptflops never saw it
    ("batchnorm", "BatchNormalization", {"x": [1, 4, 5, 5]},
     {"s": [4], "b": [4], "m": [4], "v": [4]}, {}, (200, 0, 200)),
    ("layernorm", "LayerNormalization", {"x": [1, 10, 8]}, {"s": [8], "b": [8]}, {"axis": -1},
     (0, 0, 160)),
    ("relu", "Relu", {"x": [1, 4, 5, 5]}, {}, {}, (100, 0, 100)),
    ("sigmoid", "Sigmoid", {"x": [1, 4, 5, 5]}, {}, {}, (0, 0, 100)),
    ("maxpool", "MaxPool", {"x": [1, 2, 8, 8]}, {}, {"kernel_shape": [2, 2], "strides": [2, 2]},
     (128, 0, 128)),
    ("global pool", "GlobalAveragePool", {"x": [1, 2, 8, 8]}, {}, {}, (128, 0, 128)),
    ("add", "Add", {"a": [1, 4, 5, 5], "b": [1, 4, 5, 5]}, {}, {}, (0, 0, 100)),
    ("reshape is free", "Transpose", {"x": [1, 4, 5, 5]}, {}, {}, (0, 0, 0)),
    ("einsum", "Einsum", {"a": [2, 3, 4], "b": [2, 4, 5]}, {}, {"equation": "bij,bjk->bik"},
     (0, 120, 120)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "inputs", "weights", "attrs", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_node_counts_per_convention(
    op: str,
    inputs: dict[str, list[int]],
    weights: dict[str, list[int]],
    attrs: dict[str, object],
    expected: tuple[int, int, int],
) -> None:
    tally = analyse(one_node(op, inputs, weights, **attrs)).macs
    assert not tally.uncounted
    assert (tally.total[PT], tally.total[TV], tally.total[FULL]) == expected


def test_symbolic_batch_doubles_the_count() -> None:
    model = one_node("Conv", {"x": ["N", 3, 8, 8]}, {"w": [4, 3, 3, 3]}, pads=[1, 1, 1, 1])
    one, two = analyse(model, batch=1).macs.total, analyse(model, batch=2).macs.total
    assert two[TV] == 2 * one[TV] == 2 * 4 * 64 * 27


def test_unknown_shapes_are_reported_not_guessed() -> None:
    # A Reshape whose target comes from a graph input cannot be resolved statically.
    reshape = helper.make_node("Reshape", ["x", "shape"], ["r"])
    matmul = helper.make_node("MatMul", ["r", "w"], ["y"], name="the_matmul")
    graph = helper.make_graph(
        [reshape, matmul], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((4, 2), np.float32), "w")],
    )  # fmt: skip
    tally = analyse(helper.make_model(graph)).macs
    assert tally.uncounted == ["the_matmul (MatMul)"]
