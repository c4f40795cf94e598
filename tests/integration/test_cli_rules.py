"""`robust-validate MODEL` on models that keep or break one rule each (issue: validator core)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto

from tests import builders
from validator.cli.main import cli

STATIC = "fp32,input,output,params,file-size,flops,opset,operators"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_a_compliant_model_passes_every_check(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "ok.onnx")
    code, _ = run(
        str(path),
        "--checks",
        STATIC + ",runtime,determinism,batch-consistency",
        "--json",
        str(tmp_path / "r.json"),
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0, [c for c in report["checks"] if c["status"] != "pass"]
    assert report["verdict"] == "pass"
    assert {c["id"] for c in report["checks"]} >= {"load", "fp32", "flops", "runtime"}
    assert all(c["status"] == "pass" for c in report["checks"])


@pytest.mark.parametrize(
    ("model", "check", "words"),
    [
        (lambda: builders.classifier(dtype=TensorProto.FLOAT16), "fp32", "float16"),
        (lambda: builders.classifier(nhwc=True), "input", "NHWC"),
        (lambda: builders.classifier(num_classes=1000), "output", "1000 classes"),
        (builders.heavy_classifier, "flops", "multiply-adds (ptflops convention"),
        (builders.wide_classifier, "params", "over the limit"),
    ],
    ids=["fp16", "nhwc", "1000-classes", "over-5G", "over-30M"],
)
def test_a_model_breaking_one_rule_exits_1_naming_it(
    tmp_path: Path, model: object, check: str, words: str
) -> None:
    path = builders.save(model(), tmp_path, "m.onnx")  # type: ignore[operator]
    code, out = run(str(path), "--checks", STATIC, "--json", "-")
    report = json.loads(out)
    failed = {c["id"]: c for c in report["checks"] if c["status"] == "fail"}
    assert code == 1
    assert check in failed, failed
    assert words in failed[check]["message"]


def test_json_follows_the_report_contract(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "ok.onnx")
    code, out = run(str(path), "--checks", STATIC, "--json", "-")
    report = json.loads(out)
    assert code == 0
    assert report["schema_version"] == 1
    assert report["tool"]["name"] == "robust-validate"
    assert report["model"]["file_bytes"] == path.stat().st_size
    assert len(report["model"]["sha256"]) == 64
    assert report["profile"]["max_macs"] == 5_000_000_000
    measurements = report["measurements"]
    assert set(measurements["macs"]) == {"ptflops", "torchvision", "full", "platform"}
    assert measurements["input"] == {
        "name": "input",
        "shape": ["N", 3, 224, 224],
        "dtype": "float32",
    }
    flops = next(c for c in report["checks"] if c["id"] == "flops")
    assert flops["limit"] == 5_000_000_000 and flops["details"]["by_op"]["Conv"]["nodes"] == 1


def test_platform_route_is_reported_beside_the_profile_convention(tmp_path: Path) -> None:
    model = builders.classifier(opset=17)  # HardSwish needs opset >= 14
    path = builders.save(model, tmp_path, "ok.onnx")
    code, out = run(str(path), "--checks", "flops,platform-conversion", "--json", "-")
    report = json.loads(out)
    checks = {c["id"]: c for c in report["checks"]}
    assert code == 0 and checks["platform-conversion"]["status"] == "pass"
    assert "platform (ONNX route) figure" in checks["flops"]["message"]
    assert report["measurements"]["macs"]["platform"] is not None

    hard = onnx.helper.make_node("HardSwish", [model.graph.output[0].name], ["hs"], name="hs")
    model.graph.node.append(hard)
    model.graph.output[0].name = "hs"
    path = builders.save(model, tmp_path, "hardswish.onnx")
    code, out = run(str(path), "--checks", "flops,platform-conversion", "--json", "-")
    report = json.loads(out)
    checks = {c["id"]: c for c in report["checks"]}
    assert code == 0 and checks["platform-conversion"]["status"] == "warn"
    assert (
        "no converter for HardSwish at hs: replace Hardswish"
        in (checks["platform-conversion"]["message"])
    )
    assert report["measurements"]["macs"]["platform"] is None


def test_strict_turns_a_warning_into_exit_1(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(opset=17), tmp_path, "new-opset.onnx")
    assert run(str(path), "--checks", "opset")[0] == 0
    code, out = run(str(path), "--checks", "opset", "--strict")
    assert code == 1 and "opset 17 > 15" in out


def test_profile_toml_changes_limits_and_severity(tmp_path: Path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text('base = "final"\nmax_macs = 1e6\n[severity]\nopset = "error"\n')
    path = builders.save(builders.classifier(opset=17), tmp_path, "m.onnx")
    code, out = run(str(path), "--profile", str(toml), "--checks", "flops,opset", "--json", "-")
    failed = {c["id"] for c in json.loads(out)["checks"] if c["status"] == "fail"}
    assert code == 1 and failed == {"flops", "opset"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["m.onnx", "--profile", "finall"], "did you mean 'final'"),
        (["m.onnx", "--checks", "flop"], "did you mean 'flops'"),
        (["m.onnx", "--bogus"], "No such option"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    builders.save(builders.classifier(), tmp_path, "m.onnx")
    args = [str(tmp_path / a) if a.endswith(".onnx") else a for a in args]
    code, out = run(*args)
    assert code == 2 and words in out


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = builders.save(builders.classifier(), tmp_path, "ok.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "validator", str(path), "--checks", "flops", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "PASS" in done.stdout


def test_fp16_message_names_the_tensors(tmp_path: Path) -> None:
    model = builders.classifier(dtype=TensorProto.FLOAT16)
    onnx.checker.check_model(model)
    path = builders.save(model, tmp_path, "half.onnx")
    _, out = run(str(path), "--checks", "fp32", "--json", "-")
    fp32 = next(c for c in json.loads(out)["checks"] if c["id"] == "fp32")
    assert "conv.weight" in fp32["message"]
