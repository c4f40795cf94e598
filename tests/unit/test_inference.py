"""Execution-provider selection (validator.inference) and the inferences the runtime checks
make (validator.checks.runtime), on the CPU onnxruntime of this machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

from tests import builders
from validator.checks import CHECKS
from validator.checks.context import Context
from validator.config import PROFILES
from validator.errors import UsageError
from validator.findings import Status
from validator.inference import Runner, providers_for
from validator.loading.model import load_model
from validator.vocab import CheckId, Device

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("cpu", ["CPUExecutionProvider"]),
        (Device.CPU, ["CPUExecutionProvider"]),
    ],
)
def test_cpu_uses_the_cpu_provider_only(device: str | Device, expected: list[str]) -> None:
    assert providers_for(device) == expected


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has the CUDA provider")
def test_cuda_without_onnxruntime_gpu_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="onnxruntime-gpu"):
        providers_for("cuda")


def test_cuda_prefers_the_gpu_and_falls_back_to_the_cpu_per_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)
    assert providers_for("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError):
        providers_for("tpu")


def test_a_cpu_session_records_its_provider(tmp_path: Path) -> None:
    runner = Runner(builders.save(builders.classifier(), tmp_path, "m.onnx"), threads=1)
    assert runner.provider == "CPUExecutionProvider"


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has the CUDA provider")
def test_a_session_that_falls_back_from_cuda_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # onnxruntime-gpu on a machine without a usable GPU builds a CPU session quietly; pretend
    # the provider is installed so the real CPU-only onnxruntime does exactly that.
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider"])
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    with pytest.raises(UsageError, match="fell back to CPUExecutionProvider"):
        Runner(path, threads=1, device="cuda")


class _Counting:
    """Wraps a Runner's run to record the batch size of every inference."""

    def __init__(self, runner: Runner) -> None:
        self.sizes: list[int] = []
        self._run = runner.run
        runner.run = self  # type: ignore[method-assign]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        return self._run(batch)


def _runtime_checks(path: Path) -> tuple[dict[str, Status], list[int]]:
    ctx = Context(load_model(path), PROFILES.get("final"), threads=1)
    counting = _Counting(ctx.runner)
    wanted = (CheckId.RUNTIME, CheckId.DETERMINISM, CheckId.BATCH_CONSISTENCY)
    statuses = {s.id.value: s.run(ctx).status for s in CHECKS if s.id in wanted}
    return statuses, counting.sizes


def test_a_sound_model_is_run_once_as_a_batch_and_once_image_by_image(tmp_path: Path) -> None:
    statuses, sizes = _runtime_checks(builders.save(builders.classifier(), tmp_path, "m.onnx"))
    assert set(statuses.values()) == {Status.PASS}
    batch = PROFILES.get("final").runtime_batch
    assert sizes == [batch] + [1] * batch  # no second run of the batch


def test_a_batch_dependent_model_gets_the_batch_run_twice(tmp_path: Path) -> None:
    model = builders.classifier()
    model.graph.node.insert(0, helper.make_node("ReduceMean", ["input"], ["mean"], axes=[0]))
    model.graph.node.insert(1, helper.make_node("Sub", ["input", "mean"], ["centred"]))
    model.graph.node[2].input[0] = "centred"
    statuses, sizes = _runtime_checks(builders.save(model, tmp_path, "m.onnx"))
    # alone and batched disagree: the repeat tells a deterministic model from a random one
    assert statuses["determinism"] is Status.PASS
    assert statuses["batch-consistency"] is Status.WARN
    batch = PROFILES.get("final").runtime_batch
    assert sizes == [batch] + [1] * batch + [batch]
