"""``--device``, the provider in the report, and what the command line loads for what it does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest
from click.testing import CliRunner

from tests import builders
from validator.cli.main import cli

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
# validator.scoring.options (plain values) is light; the scoring machinery is not.
SCORING = ("validator.scoring.arithmetic", "validator.scoring.engine",
           "validator.scoring.evaluation")  # fmt: skip
HEAVY = ("onnx", "onnxruntime", "numpy", "rich", "PIL", "validator.attacks", *SCORING,
         "validator.checks", "validator.reporting.html")  # fmt: skip


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has the CUDA provider")
def test_cuda_without_a_gpu_runtime_is_a_usage_error(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    result = CliRunner().invoke(cli, [str(path), "--checks-only", "--device", "cuda"])
    assert result.exit_code == 2, result.output
    assert "onnxruntime-gpu" in result.output and "Traceback" not in result.output


def test_an_unknown_device_is_a_usage_error(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    result = CliRunner().invoke(cli, [str(path), "--checks-only", "--device", "tpu"])
    assert result.exit_code == 2 and "tpu" in result.output


def test_the_report_records_the_device_and_the_provider(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    args = [str(path), "--checks-only", "--checks", "input,runtime", "--json", "-"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["isolation"]["device"] == "cpu"
    runtime = next(c for c in report["checks"] if c["id"] == "runtime")
    assert runtime["details"]["provider"] == "CPUExecutionProvider"


def _loaded(*args: str) -> set[str]:
    code = (
        "import sys\nfrom validator.cli.main import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint(' '.join(sys.modules), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    return set(done.stderr.split())


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("reference",)])
def test_commands_that_inspect_no_model_load_no_model_machinery(args: tuple[str, ...]) -> None:
    loaded = _loaded(*args)
    assert not {m for m in loaded for h in HEAVY if m == h or m.startswith(h + ".")}


def test_the_static_checks_load_no_runtime_scoring_or_attacks(tmp_path: Path) -> None:
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    loaded = _loaded(str(path), "--checks-only", "--checks", "params,flops,fp32", "-q")
    assert "validator.checks" in loaded  # it did run the checks
    for heavy in ("onnxruntime", "PIL", *SCORING, "validator.attacks",
                  "validator.reporting.html"):  # fmt: skip
        assert heavy not in loaded
