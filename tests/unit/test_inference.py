"""Execution-provider selection (validator.inference) and the inferences the runtime checks
make (validator.checks.runtime), on the CPU onnxruntime of this machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

from tests import builders
from validator.checks import CHECKS
from validator.checks.context import Context
from validator.config import PROFILES
from validator.errors import UsageError
from validator.findings import Finding, Status
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


def _runtime_checks(path: Path, **profile: int) -> tuple[dict[str, Finding], list[int]]:
    chosen = dataclasses.replace(PROFILES.get("final"), **profile)
    ctx = Context(load_model(path), chosen, threads=1)
    counting = _Counting(ctx.runner)
    wanted = (CheckId.RUNTIME, CheckId.DETERMINISM, CheckId.BATCH_CONSISTENCY)
    findings = {s.id.value: s.run(ctx) for s in CHECKS if s.id in wanted}
    return findings, counting.sizes


def _batch_dependent() -> onnx.ModelProto:
    """Subtract the batch mean: each image's output depends on the others in its batch."""
    model = builders.classifier()
    model.graph.node.insert(0, helper.make_node("ReduceMean", ["input"], ["mean"], axes=[0]))
    model.graph.node.insert(1, helper.make_node("Sub", ["input", "mean"], ["centred"]))
    model.graph.node[2].input[0] = "centred"
    return model


# The default profile runs the batch once and runtime_alone = 2 of its images alone (the first
# and the last); runtime_alone = runtime_batch keeps every image alone, the strictest evidence.
@pytest.mark.parametrize(
    ("alone", "positions"), [({}, [0, 7]), ({"runtime_alone": 8}, list(range(8)))]
)
def test_a_sound_model_is_run_once_as_a_batch_and_its_chosen_images_alone(
    tmp_path: Path, alone: dict[str, int], positions: list[int]
) -> None:
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    findings, sizes = _runtime_checks(path, **alone)
    assert {f.status for f in findings.values()} == {Status.PASS}
    batch = PROFILES.get("final").runtime_batch
    assert sizes == [batch] + [1] * len(positions)  # no second run of the batch
    consistency = findings["batch-consistency"]
    assert consistency.details["alone_samples"] == positions
    listed = f"{len(positions)} of the 8 images run alone: samples 0, 7"
    assert (listed in consistency.message) is (len(positions) < batch)
    assert (listed in findings["determinism"].message) is (len(positions) < batch)


@pytest.mark.parametrize("alone", [1, 2, 3, 8])
def test_a_batch_dependent_model_gets_the_batch_run_twice(tmp_path: Path, alone: int) -> None:
    findings, sizes = _runtime_checks(
        builders.save(_batch_dependent(), tmp_path, "m.onnx"), runtime_alone=alone
    )
    # alone and batched disagree: the repeat tells a deterministic model from a random one
    assert findings["determinism"].status is Status.PASS
    assert findings["batch-consistency"].status is Status.WARN
    batch = PROFILES.get("final").runtime_batch
    assert sizes == [batch] + [1] * alone + [batch]


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, [0]), (2, [0, 7]), (3, [0, 4, 7]), (4, [0, 2, 5, 7]), (8, list(range(8))),
     (200, list(range(8)))],
)  # fmt: skip
def test_the_images_run_alone_are_spread_over_the_batch(
    tmp_path: Path, count: int, expected: list[int]
) -> None:
    chosen = dataclasses.replace(PROFILES.get("final"), runtime_alone=count)
    path = builders.save(builders.classifier(), tmp_path, "m.onnx")
    assert Context(load_model(path), chosen, threads=1).alone_positions == expected
