"""If and Loop: most expensive branch, constant trip counts, and saying so."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from validator.graph.analysis import analyse
from validator.vocab import MacsConvention

F = TensorProto.FLOAT
FULL = MacsConvention.FULL


def _matmul_body(
    name: str, weight: str, extra_inputs: list[onnx.ValueInfoProto]
) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("MatMul", ["x", weight], [f"{name}_out"])],
        name, extra_inputs, [helper.make_tensor_value_info(f"{name}_out", F, [1, 8])],
    )  # fmt: skip


def _model(nodes: list[onnx.NodeProto], inits: list[TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", F, [1, 8]),
         helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", F, None)],
        inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_if_counts_the_more_expensive_branch() -> None:
    cheap = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["c_out"])], "cheap", [],
        [helper.make_tensor_value_info("c_out", F, [1, 8])],
    )  # fmt: skip
    heavy = _matmul_body("heavy", "w", [])
    node = helper.make_node(
        "If", ["flag"], ["y"], name="choice", then_branch=cheap, else_branch=heavy
    )
    w = numpy_helper.from_array(np.zeros((8, 8), np.float32), "w")
    tally = analyse(_model([node], [w])).macs
    assert tally.total[FULL] == 64
    assert any("If 'choice'" in note and "more expensive" in note for note in tally.notes)


def _loop(trips: TensorProto | None) -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["x", "w"], ["scan_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("scan_out", F, [1, 8])],
    )  # fmt: skip
    inits = [numpy_helper.from_array(np.zeros((8, 8), np.float32), "w")]
    if trips is not None:
        inits.append(trips)
    node = helper.make_node(
        "Loop", ["M" if trips is not None else "", "flag"], ["y"], name="loop", body=body
    )
    return _model([node], inits)


def test_loop_with_constant_trip_count_counts_each_trip() -> None:
    tally = analyse(_loop(numpy_helper.from_array(np.array(5, np.int64), "M"))).macs
    assert tally.total[FULL] == 5 * 64
    assert not tally.notes


def test_data_dependent_loop_counts_once_and_says_so() -> None:
    tally = analyse(_loop(None)).macs
    assert tally.total[FULL] == 64
    assert any("depends on data" in note for note in tally.notes)
