"""The ``platform`` convention and the converter's blocking constructs, on graphs built in code."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.unit.test_graph_macs import one_node
from validator.graph.analysis import analyse
from validator.graph.index import build_index
from validator.graph.platform_rules import find_blockers, predict_platform
from validator.vocab import MacsConvention

PLATFORM = MacsConvention.PLATFORM

COUNTS = [
    # id, op, inputs, weights, attrs, platform multiply-adds
    ("conv", "Conv", {"x": [1, 3, 8, 8]}, {"w": [4, 3, 3, 3]}, {"pads": [1, 1, 1, 1]},
     4 * 64 * 27),
    ("conv+bias", "Conv", {"x": [1, 3, 8, 8]}, {"w": [4, 3, 3, 3], "b": [4]},
     {"pads": [1, 1, 1, 1]}, 4 * 64 * 28),
    ("grouped conv", "Conv", {"x": [1, 8, 4, 4]}, {"w": [8, 2, 1, 1]}, {"group": 4}, 8 * 16 * 2),
    ("conv transpose on the output grid", "ConvTranspose", {"x": [1, 2, 4, 4]},
     {"w": [2, 3, 2, 2]}, {"strides": [2, 2]}, 2 * 3 * 4 * 64),
    ("batchnorm 2 per element", "BatchNormalization", {"x": [1, 4, 5, 5]},
     {"s": [4], "b": [4], "m": [4], "v": [4]}, {}, 2 * 100),
    ("instancenorm not affine", "InstanceNormalization", {"x": [1, 4, 5, 5]},
     {"s": [4], "b": [4]}, {}, 100),
    ("maxpool per input", "MaxPool", {"x": [1, 2, 8, 8]}, {}, {"kernel_shape": [2, 2],
     "strides": [2, 2]}, 128),
    ("maxpool asymmetric pads padded first", "MaxPool", {"x": [1, 2, 8, 8]}, {},
     {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}, 2 * 81),
    ("avgpool per input", "AveragePool", {"x": [1, 2, 8, 8]}, {}, {"kernel_shape": [2, 2]}, 128),
    ("relu is F.relu", "Relu", {"x": [1, 2, 8, 8]}, {}, {}, 0),
    ("clip is torch.clamp", "Clip", {"x": [1, 2, 8, 8]}, {}, {}, 0),
    ("gemm is torch.matmul", "Gemm", {"x": [1, 8]}, {"w": [8, 4], "b": [4]}, {}, 0),
    ("matmul is torch.matmul", "MatMul", {"x": [1, 8]}, {"w": [8, 4]}, {}, 0),
    ("global pool is F.avg_pool", "GlobalAveragePool", {"x": [1, 2, 8, 8]}, {}, {}, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "inputs", "weights", "attrs", "expected"),
    [c[1:] for c in COUNTS],
    ids=[c[0] for c in COUNTS],
)
def test_platform_counts_only_converted_modules(
    op: str,
    inputs: dict[str, list[int]],
    weights: dict[str, list[int]],
    attrs: dict[str, object],
    expected: int,
) -> None:
    analysis = analyse(one_node(op, inputs, weights, **attrs))
    assert analysis.macs.total[PLATFORM] == expected


def _blockers(model: onnx.ModelProto) -> list[str]:
    return [b.construct for b in find_blockers(build_index(model.graph))]


def _graph(
    nodes: list[onnx.NodeProto],
    inits: dict[str, np.ndarray],
    outputs: tuple[str, ...] = ("y",),
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


W = {"w": np.ones((4, 3, 1, 1), np.float32)}
CONV = helper.make_node("Conv", ["x", "w"], ["c"], name="conv")

BLOCKED = [
    ("hardswish", [CONV, helper.make_node("HardSwish", ["c"], ["y"], name="hs")], W,
     "no converter for HardSwish"),
    ("layernorm", [CONV, helper.make_node("LayerNormalization", ["c", "w"], ["y"], name="ln")],
     W, "no converter for LayerNormalization"),
    ("contrib op", [CONV, helper.make_node("Gelu", ["c"], ["y"], name="g",
     domain="com.microsoft")], W, "no converter for com.microsoft.Gelu"),
    ("loop", [CONV, helper.make_node("Loop", ["", ""], ["y"], name="loop")], W,
     "no converter for Loop"),
    ("gemm without bias", [helper.make_node("Flatten", ["x"], ["f"]),
     helper.make_node("Gemm", ["f", "g"], ["y"], name="fc")],
     {"g": np.ones((192, 4), np.float32)}, "Gemm without a bias input"),
    ("weight through Identity", [helper.make_node("Identity", ["w"], ["w2"], name="id"),
     helper.make_node("Conv", ["x", "w2"], ["y"], name="conv")], W,
     "Conv weight computed in the graph"),
    ("resize with empty roi", [CONV, helper.make_node("Resize", ["c", "", "s"], ["y"],
     name="up")], W | {"s": np.array([1, 1, 2, 2], np.float32)},
     "empty optional input (the converter cannot name it)"),
    ("slice with computed ends", [CONV, helper.make_node("Shape", ["c"], ["e"]),
     helper.make_node("Slice", ["c", "st", "e"], ["y"], name="sl")],
     W | {"st": np.array([0, 0, 0, 0], np.int64)},
     "Slice with constant starts but computed ends (or the reverse)"),
    ("bad tensor name", [helper.make_node("Conv", ["x", "w"], ["conv-out"], name="c"),
     helper.make_node("Relu", ["conv-out"], ["y"])], W,
     "tensor name 'conv-out' is not a Python identifier"),
    ("two outputs", [helper.make_node("Conv", ["x", "w"], ["y"], name="c"),
     helper.make_node("Relu", ["y"], ["z"])], W,
     "2 graph outputs (the converted forward returns a dict; check_model.py calls output.numel())"),
    ("no parameter", [helper.make_node("Relu", ["x"], ["y"])], {},
     "no trainable parameter (DistributedDataParallel refuses such a module)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("nodes", "inits", "construct"), [c[1:] for c in BLOCKED], ids=[c[0] for c in BLOCKED]
)
def test_each_blocking_construct_is_named(
    nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], construct: str
) -> None:
    outputs = ("y", "z") if construct.startswith("2 graph outputs") else ("y",)
    assert construct in _blockers(_graph(nodes, inits, outputs))


def test_fixes_are_given_where_one_exists() -> None:
    model = _graph([CONV, helper.make_node("HardSwish", ["c"], ["y"], name="hs")], W)
    (blocker,) = find_blockers(build_index(model.graph))
    assert blocker.nodes == ("hs",)
    assert "x * relu6(x + 3) / 6" in blocker.describe()


def test_integer_parameters_read_by_forward_are_flagged() -> None:
    shape = {"shape": np.array([0, -1], np.int64)}
    nodes = [CONV, helper.make_node("Reshape", ["c", "shape"], ["y"], name="flat")]
    constructs = _blockers(_graph(nodes, W | shape))
    assert any(c.startswith("non-float tensors kept as parameters") for c in constructs)
    assert not any(c.startswith("Reshape fixes the batch") for c in constructs)


def test_a_reshape_fixing_a_dynamic_batch_is_flagged() -> None:
    nodes = [CONV, helper.make_node("Reshape", ["c", "shape"], ["y"], name="flat")]
    model = _graph(nodes, W | {"shape": np.array([1, -1], np.int64)})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    constructs = _blockers(model)
    assert any(c.startswith("Reshape fixes the batch") for c in constructs)


def test_a_plain_cnn_converts_and_keeps_its_figure() -> None:
    nodes = [
        CONV,
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    inits = W | {"fc_w": np.ones((10, 4), np.float32), "fc_b": np.zeros(10, np.float32)}
    analysis = analyse(_graph(nodes, inits))
    prediction = predict_platform(analysis.index, analysis.macs.total[PLATFORM])
    assert prediction.blockers == ()
    assert prediction.macs == 4 * 64 * 3  # only the Conv module: ReLU, pool and Gemm are free


def test_a_blocked_model_has_no_figure() -> None:
    analysis = analyse(_graph([CONV, helper.make_node("HardSwish", ["c"], ["y"])], W))
    prediction = predict_platform(analysis.index, analysis.macs.total[PLATFORM])
    assert not prediction.converts
    assert prediction.macs is None
    assert prediction.module_macs == 4 * 64 * 3
