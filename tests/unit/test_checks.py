"""Each static and runtime check on small models that keep or break its rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests import builders
from validator import validate
from validator.findings import Finding, Status


def check(tmp_path: Path, model: onnx.ModelProto, check_id: str, profile: str = "final") -> Finding:
    path = builders.save(model, tmp_path, "m.onnx")
    finding = validate(path, profile, select=[check_id]).get(check_id)
    assert finding is not None
    return finding


def test_fp32_flags_casts_to_half_precision(tmp_path: Path) -> None:
    model = builders.classifier()
    model.graph.node.insert(
        0, helper.make_node("Cast", ["input"], ["h"], to=TensorProto.FLOAT16, name="to_half")
    )
    model.graph.node.insert(
        1, helper.make_node("Cast", ["h"], ["h32"], to=TensorProto.FLOAT, name="back")
    )
    model.graph.node[2].input[0] = "h32"
    finding = check(tmp_path, model, "fp32")
    assert finding.status is Status.FAIL
    assert "to_half" in finding.message and "float16" in finding.message


def test_fp32_flags_quantisation_nodes(tmp_path: Path) -> None:
    model = builders.classifier()
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array(0.1, np.float32), "scale"),
        numpy_helper.from_array(np.array(0, np.uint8), "zero"),
    ])  # fmt: skip
    model.graph.node.insert(
        0, helper.make_node("QuantizeLinear", ["input", "scale", "zero"], ["q"], name="quant")
    )
    model.graph.node.insert(
        1, helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"], name="dequant")
    )
    model.graph.node[2].input[0] = "dq"
    finding = check(tmp_path, model, "fp32")
    assert finding.status is Status.FAIL
    assert "quantisation nodes" in finding.message and "quant" in finding.message


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({}, Status.PASS, "N x 3 x 224 x 224 float32"),
        ({"batch": 1}, Status.PASS, "1 x 3 x 224 x 224"),
        ({"batch": 4}, Status.FAIL, "batch fixed to 4"),
        ({"size": 256}, Status.FAIL, "dim 2 is 256, not 224"),
        ({"nhwc": True}, Status.FAIL, "channels-last (NHWC)"),
    ],
)
def test_input_rule(tmp_path: Path, kwargs: dict[str, object], status: Status, words: str) -> None:
    finding = check(tmp_path, builders.classifier(**kwargs), "input")  # type: ignore[arg-type]
    assert finding.status is status and words in finding.message


@pytest.mark.parametrize(
    ("classes", "profile", "status"),
    [(100, "final", Status.PASS), (20, "preliminary", Status.PASS), (20, "final", Status.FAIL),
     (1000, "final", Status.FAIL)],
)  # fmt: skip
def test_output_rule(tmp_path: Path, classes: int, profile: str, status: Status) -> None:
    finding = check(tmp_path, builders.classifier(num_classes=classes), "output", profile)
    assert finding.status is status
    assert finding.measured == classes


def test_operators_warns_on_custom_domains_and_control_flow(tmp_path: Path) -> None:
    model = builders.classifier()
    model.graph.node.insert(
        0, helper.make_node("Gelu", ["input"], ["g"], domain="com.microsoft", name="ms_gelu")
    )
    model.graph.node[1].input[0] = "g"
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    path = builders.save(model, tmp_path, "m.onnx")
    finding = validate(path, select=["operators"]).get("operators")
    assert finding is not None and finding.status is Status.WARN
    assert "com.microsoft.Gelu at ms_gelu" in finding.message


def test_determinism_names_random_operators(tmp_path: Path) -> None:
    model = builders.classifier()
    noise = helper.make_node("RandomNormalLike", ["input"], ["noise"], scale=0.1, name="noise")
    add = helper.make_node("Add", ["input", "noise"], ["noisy"])
    model.graph.node.insert(0, noise)
    model.graph.node.insert(1, add)
    model.graph.node[2].input[0] = "noisy"
    finding = check(tmp_path, model, "determinism")
    assert finding.status is Status.WARN
    assert "random operators: noise" in finding.message
    assert isinstance(finding.measured, float) and finding.measured > 0


def test_fixed_batch_of_one_runs_image_by_image(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(batch=1), tmp_path, "b1.onnx")
    report = validate(path, select=["input", "runtime", "batch-consistency"])
    runtime, batch = report.get("runtime"), report.get("batch-consistency")
    assert runtime is not None and runtime.status is Status.PASS
    assert "image by image" in runtime.message
    assert batch is not None and batch.status is Status.SKIP and "fixed to 1" in batch.message


def test_batch_dependent_model_fails_batch_consistency(tmp_path: Path) -> None:
    model = builders.classifier()
    # Subtract the batch mean: each image's output now depends on the others in its batch.
    model.graph.node.insert(0, helper.make_node("ReduceMean", ["input"], ["mean"], axes=[0]))
    model.graph.node.insert(1, helper.make_node("Sub", ["input", "mean"], ["centred"]))
    model.graph.node[2].input[0] = "centred"
    finding = check(tmp_path, model, "batch-consistency")
    assert finding.status is Status.WARN and "worst is sample" in finding.message


def test_runtime_checks_are_skipped_when_the_input_cannot_be_fed(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(nhwc=True), tmp_path, "nhwc.onnx")
    runtime = validate(path, select=["input", "runtime"]).get("runtime")
    assert runtime is not None and runtime.status is Status.SKIP
    assert "cannot be fed" in runtime.message


def test_non_finite_outputs_fail_runtime(tmp_path: Path) -> None:
    model = builders.classifier()
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
    model.graph.node[-1].output[0] = "logits"
    model.graph.node.append(helper.make_node("Div", ["logits", "zero"], ["output"]))
    finding = check(tmp_path, model, "runtime")
    assert finding.status is Status.FAIL and "NaN or infinite" in finding.message
