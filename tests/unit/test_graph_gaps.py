"""Counting where static analysis used to give up: Loop bodies, contrib ops, a fixed batch
above 1, and quantised weights. Every model is built here; expectations come from an
equivalent plain graph counted by the same rules, never from the code under test alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from validator import validate
from validator.findings import Status
from validator.graph.analysis import analyse
from validator.vocab import MacsConvention

F = TensorProto.FLOAT
CONVENTIONS = tuple(MacsConvention)
RNG = np.random.default_rng(0)


def _w(name: str, shape: tuple[int, ...]) -> TensorProto:
    return numpy_helper.from_array((RNG.standard_normal(shape) * 0.05).astype(np.float32), name)


def _model(
    nodes: list[onnx.NodeProto],
    inits: list[TensorProto],
    batch: int | str = "N",
    domains: tuple[str, ...] = (),
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("input", F, [batch, 3, 224, 224])],
        [helper.make_tensor_value_info("output", F, [batch, 100])],
        inits,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.checker.check_model(model)
    return model


STEM = [helper.make_node("Conv", ["input", "sw"], ["s"], strides=[8, 8], kernel_shape=[8, 8])]
HEAD = [
    helper.make_node("GlobalAveragePool", ["h"], ["p"]),
    helper.make_node("Flatten", ["p"], ["f"]),
    helper.make_node("Gemm", ["f", "fw", "fb"], ["output"], transB=1),
]


def _weights(c: int) -> list[TensorProto]:
    return [_w("sw", (c, 3, 8, 8)), _w("bw", (c, c, 3, 3)), _w("bb", (c,)),
            _w("fw", (100, c)), _w("fb", (100,))]  # fmt: skip


def _block(x: str, out: str, tag: str = "") -> list[onnx.NodeProto]:
    """A residual conv block: out = x + relu(conv3x3(x))."""
    return [
        helper.make_node("Conv", [x, "bw", "bb"], [f"c{tag}"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", [f"c{tag}"], [f"r{tag}"]),
        helper.make_node("Add", [f"r{tag}", x], [out]),
    ]


def loop_model(trips: int, c: int = 16) -> onnx.ModelProto:
    """The block inside a Loop with a constant trip count; the carried value has no declared
    shape, as scripted torch exports leave it."""
    body = helper.make_graph(
        [*_block("h_in", "h_out"), helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", F, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, None),
         helper.make_tensor_value_info("h_out", F, None)],
    )  # fmt: skip
    loop = helper.make_node("Loop", ["trips", "go", "s"], ["h"], name="loop", body=body)
    inits = [
        *_weights(c),
        numpy_helper.from_array(np.array(trips, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "go"),
    ]
    return _model([*STEM, loop, *HEAD], inits)


def unrolled_model(trips: int, c: int = 16) -> onnx.ModelProto:
    """The same network with the block written out ``trips`` times."""
    nodes, x = list(STEM), "s"
    for t in range(trips):
        out = "h" if t == trips - 1 else f"h{t}"
        nodes += _block(x, out, tag=str(t))
        x = out
    return _model([*nodes, *HEAD], _weights(c))


def test_loop_with_constant_trips_counts_its_body_that_many_times() -> None:
    looped, unrolled = analyse(loop_model(30, c=64)), analyse(unrolled_model(30, c=64))
    assert not looped.macs.uncounted
    assert looped.macs.total == unrolled.macs.total
    assert looped.params.total == unrolled.params.total  # weights read from the outer scope
    body, stem, fc = 28 * 28 * 64 * 64 * 9, 28 * 28 * 64 * 3 * 64, 64 * 100  # multiplies
    assert looped.macs.total[MacsConvention.TORCHVISION] == 30 * body + stem + fc


def test_loop_model_runs_as_counted(tmp_path: Path) -> None:
    path = tmp_path / "loop.onnx"
    onnx.save(loop_model(5), str(path))
    report = validate(path, select=["flops", "runtime"])
    flops = report.get("flops")
    assert flops is not None
    assert flops.status is Status.PASS, flops.message
    assert flops.measured == analyse(unrolled_model(5)).macs.total[MacsConvention.PTFLOPS]


def test_loop_whose_carried_shape_changes_leaves_dims_unknown() -> None:
    model = loop_model(3)
    body = model.graph.node[1].attribute[0].g
    body.node[0].attribute.append(helper.make_attribute("strides", [2, 2]))  # shrinks h each trip
    body.node[2].input[1] = "r"  # no residual: shapes differ
    tally = analyse(model).macs
    assert tally.uncounted  # listed, never a crash or a silent guess


def gelu_model(domain: str = "com.microsoft", op: str = "Gelu") -> onnx.ModelProto:
    """A contrib op after global pooling: ONNX inference stops there, onnxruntime runs it."""
    nodes = [
        helper.make_node("Conv", ["input", "sw"], ["c"], strides=[8, 8], kernel_shape=[8, 8]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node(op, ["f"], ["g"], domain=domain),
        helper.make_node("Gemm", ["g", "fw", "fb"], ["output"], transB=1),
    ]
    return _model(nodes, _weights(16), domains=(domain,))


def test_contrib_op_is_counted_through_one_runtime_run(tmp_path: Path) -> None:
    static = analyse(gelu_model()).macs
    assert any("Gemm" in n for n in static.uncounted)  # what static inference alone sees
    path = tmp_path / "gelu.onnx"
    onnx.save(gelu_model(), str(path))
    flops = validate(path, select=["flops"]).get("flops")
    assert flops is not None
    assert flops.status is Status.PASS, flops.message
    assert flops.details["uncounted_nodes"] == []
    expected = static.total[MacsConvention.PTFLOPS] + 16 + 16 * 100 + 100  # Gelu, Gemm + bias
    assert flops.measured == expected
    assert "measured by one onnxruntime run" in flops.message


def test_genuinely_unknown_op_is_listed_as_uncounted(tmp_path: Path) -> None:
    path = tmp_path / "custom.onnx"
    onnx.save(gelu_model("example.custom", "Mystery"), str(path))
    flops = validate(path, select=["flops"]).get("flops")
    assert flops is not None
    assert "Mystery" in " ".join(flops.details["uncounted_nodes"])
    assert flops.status is Status.ERROR  # the Gemm after it cannot be sized either


def test_static_shapes_complete_never_run_the_model() -> None:
    calls: list[int] = []

    def probe(inputs: object, wanted: object) -> dict[str, object]:
        calls.append(1)
        return {}

    analyse(unrolled_model(2), probe=probe)  # type: ignore[arg-type]
    assert calls == []


@pytest.mark.parametrize("batch", [2, 4])
def test_fixed_batch_is_counted_per_image(batch: int) -> None:
    nodes = [*STEM, *_block("s", "h")]
    fixed = analyse(_model([*nodes, *HEAD], _weights(16), batch=batch)).macs
    one = analyse(_model([*nodes, *HEAD], _weights(16), batch=1)).macs
    assert fixed.total == one.total
    assert any(f"fixed at {batch}" in note for note in fixed.notes)


def _float_net() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c"], strides=[4, 4], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fw"], ["m"]),
        helper.make_node("Add", ["m", "fb"], ["output"]),
    ]
    inits = [_w("w1", (32, 3, 3, 3)), _w("b1", (32,)), _w("fw", (32, 100)), _w("fb", (100,))]
    return _model(nodes, inits)


@pytest.mark.parametrize("mode", ["dynamic", "qdq"])
def test_quantised_weights_are_parameters_and_fail_fp32(tmp_path: Path, mode: str) -> None:
    quantization = pytest.importorskip("onnxruntime.quantization")
    source, target = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_float_net(), str(source))
    if mode == "dynamic":
        quantization.quantize_dynamic(source, target, weight_type=quantization.QuantType.QInt8)
    else:
        reader = _Reader()
        quantization.quantize_static(source, target, reader, per_channel=True)
    quantised, plain = onnx.load(str(target)), analyse(_float_net())
    analysis = analyse(quantised)
    assert analysis.params.total == plain.params.total == 32 * 27 + 32 + 3200 + 100
    tv = MacsConvention.TORCHVISION
    assert analysis.macs.total[tv] == plain.macs.total[tv]  # quantising does not hide work
    report = validate(target, select=["fp32", "params"])
    fp32 = report.get("fp32")
    assert fp32 is not None and fp32.status is Status.FAIL


class _Reader:
    """Calibration data for static quantisation: a few random images."""

    def __init__(self) -> None:
        self.batches = iter([{"input": RNG.random((1, 3, 224, 224), np.float32)} for _ in range(2)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)
