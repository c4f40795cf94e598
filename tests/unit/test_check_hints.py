"""Messages name the layer that uses an offending tensor and say how to fix the common causes:
fp16/bf16, quantisation, float64, parameters over the budget, an opset too new."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests import builders
from validator import validate
from validator.checks.hints import Hint
from validator.findings import Finding, Status
from validator.graph.analysis import analyse
from validator.graph.index import build_index

CONV = "/layer1/layer1.0/conv1/Conv"
GEMM = "/fc/Gemm"


def check(tmp_path: Path, model: onnx.ModelProto, check_id: str) -> Finding:
    path = builders.save(model, tmp_path, "m.onnx")
    finding = validate(path, "final", select=[check_id]).get(check_id)
    assert finding is not None
    return finding


def named(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give the classifier's Conv and Gemm the names torch.onnx.export writes."""
    for node in model.graph.node:
        node.name = {"Conv": CONV, "Gemm": GEMM}.get(node.op_type, node.name)
    return model


def stored_as(elem_type: int) -> onnx.ModelProto:
    """The classifier with its conv weight stored as ``onnx::Conv_587`` in ``elem_type`` and
    cast to float32 before the Conv, as an exporter writes a half-precision weight."""
    model = named(builders.classifier())
    weights = {t.name: t for t in model.graph.initializer}
    array = numpy_helper.to_array(weights["conv.weight"])
    stored = numpy_helper.from_array(
        array.astype(helper.tensor_dtype_to_np_dtype(elem_type)), "onnx::Conv_587"
    )
    model.graph.initializer.remove(weights["conv.weight"])
    model.graph.initializer.append(stored)
    cast = helper.make_node("Cast", ["onnx::Conv_587"], ["conv.weight"], to=TensorProto.FLOAT)
    model.graph.node.insert(0, cast)
    return model


def cast_to(elem_type: int) -> onnx.ModelProto:
    """The classifier computing its input in ``elem_type`` (a Cast down and back up)."""
    model = named(builders.classifier())
    model.graph.node.insert(
        0, helper.make_node("Cast", ["input"], ["low"], to=elem_type, name="/Cast_down")
    )
    model.graph.node.insert(1, helper.make_node("Cast", ["low"], ["up"], to=TensorProto.FLOAT))
    model.graph.node[2].input[0] = "up"
    return model


@pytest.mark.parametrize(
    ("model", "where", "hint"),
    [
        (lambda: stored_as(TensorProto.FLOAT16), f"onnx::Conv_587 -> {CONV} (Conv)", Hint.HALF),
        (lambda: stored_as(TensorProto.DOUBLE), f"onnx::Conv_587 -> {CONV} (Conv)", Hint.DOUBLE),
        (lambda: cast_to(TensorProto.BFLOAT16), "/Cast_down (Cast)", Hint.HALF),
        (lambda: cast_to(TensorProto.INT8), "/Cast_down (Cast)", Hint.QUANTISED),
        (lambda: builders.classifier(dtype=TensorProto.FLOAT16), "conv.weight -> Conv#0",
         Hint.HALF),
    ],
    ids=["fp16-weight", "float64-weight", "bf16-cast", "int8-cast", "all-fp16-unnamed"],
)  # fmt: skip
def test_fp32_names_the_layer_and_the_fix(
    tmp_path: Path, model: object, where: str, hint: Hint
) -> None:
    finding = check(tmp_path, model(), "fp32")  # type: ignore[operator]
    assert finding.status is Status.FAIL
    assert where in finding.message
    assert f"fix: {hint.value}" in finding.message
    assert "\n" not in finding.message
    assert finding.details["hints"] == [hint.value]


def test_fp32_details_map_each_weight_to_its_layers(tmp_path: Path) -> None:
    finding = check(tmp_path, stored_as(TensorProto.FLOAT16), "fp32")
    assert finding.details["float16 weights"] == ["onnx::Conv_587"]  # the existing key stays
    assert finding.details["consumers"]["onnx::Conv_587"] == [f"{CONV} (Conv)"]


def quantised() -> onnx.ModelProto:
    """A dynamically quantised conv: uint8 input and weights into ConvInteger."""
    w = np.ones((4, 3, 3, 3), np.uint8)
    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["input"], ["q", "s", "z"], name="/quant"),
            helper.make_node("ConvInteger", ["q", "w", "z"], ["c"], name="/conv/ConvInteger"),
            helper.make_node("Cast", ["c"], ["f"], to=TensorProto.FLOAT),
            helper.make_node("GlobalAveragePool", ["f"], ["p"]),
            helper.make_node("Flatten", ["p"], ["output"]),
        ],
        "q",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(w, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_fp32_names_quantised_nodes_with_their_op_type(tmp_path: Path) -> None:
    finding = check(tmp_path, quantised(), "fp32")
    assert "/conv/ConvInteger (ConvInteger)" in finding.message
    assert "/quant (DynamicQuantizeLinear)" in finding.message
    assert f"fix: {Hint.QUANTISED.value}" in finding.message
    assert "/conv/ConvInteger (ConvInteger)" in finding.details["nodes"]


def test_params_over_the_limit_names_the_heaviest_layers(tmp_path: Path) -> None:
    finding = check(tmp_path, named(builders.wide_classifier()), "params")
    assert finding.status is Status.FAIL
    assert f"heaviest layers: {GEMM} (Gemm) 30,105,600 (fc)" in finding.message
    assert "fix: cut at least 105,618 parameters" in finding.message
    assert finding.details["heaviest_layers"] == {
        f"{GEMM} (Gemm)": 30_105_600,
        f"{CONV} (Conv)": 18,
    }
    assert finding.details["tensor_layers"]["fc"] == [f"{GEMM} (Gemm)"]
    assert finding.details["largest_tensors"]["fc"] == 30_105_600  # the existing key stays


def test_params_within_the_limit_has_no_fix(tmp_path: Path) -> None:
    finding = check(tmp_path, named(builders.classifier()), "params")
    assert finding.status is Status.PASS and "fix:" not in finding.message
    assert finding.details["heaviest_layers"] == {f"{CONV} (Conv)": 448, f"{GEMM} (Gemm)": 1700}


@pytest.mark.parametrize(("opset", "fixed"), [(17, True), (13, False)])
def test_opset_above_15_says_how_to_export(tmp_path: Path, opset: int, fixed: bool) -> None:
    finding = check(tmp_path, builders.classifier(opset=opset), "opset")
    assert ("fix: export with opset_version <= 15" in finding.message) is fixed
    assert ("hints" in finding.details) is fixed


def test_parameters_belong_to_the_layer_behind_dequantize() -> None:
    """A QDQ weight is counted at the Conv that uses it, not at the DequantizeLinear."""
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"], name="/dq"),
            helper.make_node("Conv", ["x", "w", "b"], ["y"], name="/conv/Conv"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.ones((8, 4, 3, 3), np.int8), "wq"),
            numpy_helper.from_array(np.array(0.1, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.int8), "z"),
            numpy_helper.from_array(np.zeros(8, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    analysis = analyse(model, batch=1, size=6)
    layers = analysis.params.by_layer()
    assert [(analysis.index.describe(p), n) for p, n in layers] == [("/conv/Conv (Conv)", 296)]
    assert sum(n for _, n in layers) == analysis.params.total
    assert analysis.index.layers_using("wq") == [1]


def test_layers_using_is_bounded_on_a_long_constant_chain() -> None:
    """Every link of a 30,000-node constant chain leads to the same Conv; one lookup stops
    after its walk limit instead of visiting the whole chain from every link."""
    nodes = [helper.make_node("Identity", [f"w{i}"], [f"w{i + 1}"]) for i in range(30_000)]
    nodes.append(helper.make_node("Conv", ["x", "w30000"], ["y"], name="conv"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w0")],
    )  # fmt: skip
    index = build_index(graph)
    assert index.layers_using("w29990") == [30_000]
    assert index.layers_using("w0") == []  # beyond the walk limit: no answer, no hang
    assert index.describe(30_000) == "conv (Conv)" and index.describe(0) == "Identity#0"
