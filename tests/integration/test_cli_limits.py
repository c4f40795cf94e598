"""Limits through the real command line: a model that would run forever or allocate without
bound ends at its profile's limit as a failed check naming the limit, the rest of the report
still comes out, and the exit status is 1. The harness bounds each case (a subprocess timeout),
never a timed assertion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import classifier_parts, int64s, make_model, save_model, value_info

TIGHT = """base = "final"
limit_analysis_s = 60
limit_runtime_s = 4
limit_scoring_s = 4
limit_memory_bytes = 3_000_000_000
"""


def loop_forever() -> onnx.ModelProto:
    """The tiny classifier behind a Loop of 2**62 iterations that adds 1 to the input."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "body",
        [value_info("i", [], TensorProto.INT64), value_info("cond_in", [], TensorProto.BOOL),
         value_info("x_in", None)],
        [value_info("cond_out", [], TensorProto.BOOL), value_info("x_out", None)],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one")],
    )  # fmt: skip
    nodes, weights = classifier_parts()
    nodes[0].input[0] = "looped"
    loop = helper.make_node("Loop", ["trip", "cond", "input"], ["looped"], body=body, name="spin")
    trip = numpy_helper.from_array(np.array(2**62, np.int64), "trip")
    cond = numpy_helper.from_array(np.array(True), "cond")
    return _wrap([loop, *nodes], [*weights, trip, cond])


def tile_bomb() -> onnx.ModelProto:
    """Tiles the input 600 times along channels at run time (2.9 GB at the runtime check's
    batch of 8), then averages back: harmless to analyse, explosive to run."""
    nodes, weights = classifier_parts()
    nodes[0].input[0] = "back"
    bomb = [
        helper.make_node("Tile", ["input", "reps"], ["big"], name="bomb"),
        helper.make_node("ReduceMean", ["big"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Expand", ["mean", "three"], ["back"]),
    ]
    extra = [int64s("reps", [1, 600, 1, 1]), int64s("three", [1, 3, 1, 1])]
    return _wrap([*bomb, *nodes], [*weights, *extra])


def _wrap(nodes: list[onnx.NodeProto], weights: list[onnx.TensorProto]) -> onnx.ModelProto:
    return make_model(
        nodes, [value_info("input", ["N", 3, 224, 224])], [value_info("output", ["N", 100])],
        weights,
    )  # fmt: skip


def _cli(tmp_path: Path, model: onnx.ModelProto, *extra: str) -> tuple[int, dict, str]:
    path = save_model(model, tmp_path / "model.onnx")
    (tmp_path / "tight.toml").write_text(TIGHT)
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "validator", str(path), "--profile",
               str(tmp_path / "tight.toml"), "--json", str(out), "--quiet", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    return done.returncode, json.loads(out.read_text()), done.stderr


def _check(report: dict, check: str) -> dict:
    return next(c for c in report["checks"] if c["id"] == check)


def test_a_loop_of_2_62_iterations_ends_at_the_runtime_limit(tmp_path: Path) -> None:
    code, report, stderr = _cli(tmp_path, loop_forever(), "--checks-only")
    assert code == 1, stderr
    assert "Traceback" not in stderr
    runtime = _check(report, "runtime")
    assert runtime["status"] == "fail"
    assert runtime["message"] == "onnxruntime run stopped after 4 s (profile limit_runtime_s)"
    # the rest of the report still comes out: static checks ran, the others say why not
    assert _check(report, "params")["status"] == "pass"
    assert "not evaluated: onnxruntime run stopped" in _check(report, "determinism")["message"]
    assert report["isolation"]["breaches"][0]["breach"] == "timeout"


def test_a_runtime_memory_bomb_ends_at_the_memory_limit(tmp_path: Path) -> None:
    code, report, stderr = _cli(tmp_path, tile_bomb(), "--checks-only")
    assert code == 1, stderr
    runtime = _check(report, "runtime")
    assert runtime["message"] == (
        "onnxruntime run exceeded the 3 GB memory limit (profile limit_memory_bytes)"
    )
    assert _check(report, "flops")["status"] == "pass"
    assert report["isolation"]["breaches"][0]["breach"] == "memory"


@pytest.mark.parametrize("threads", ["999"])
def test_more_threads_than_cores_is_a_usage_error(tmp_path: Path, threads: str) -> None:
    path = save_model(_wrap(*classifier_parts()), tmp_path / "m.onnx")
    done = subprocess.run(
        [sys.executable, "-m", "validator", str(path), "--threads", threads, "--checks-only"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "cores available" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_parent_stays_small_while_a_child_breaks_its_limit(tmp_path: Path) -> None:
    path = save_model(tile_bomb(), tmp_path / "bomb.onnx")
    (tmp_path / "tight.toml").write_text(TIGHT)
    script = (
        "import resource, sys\n"
        "from validator import validate\n"
        "report = validate(sys.argv[1], sys.argv[2])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
        "print(report.isolation['breaches'][0]['breach'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "tight.toml")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    parent_peak, breach = done.stdout.split()
    assert breach == "memory"
    assert int(parent_peak) < 1_000_000_000  # the bound; the child went past 2.9 GB
