"""Hostile model files through the real entry points.

Through the CLI: every file of the HOSTILE table ends as a failed ``load`` check with its reason,
exit status 1 and no traceback. Through validate(): a 200,000-node graph and tensors whose
declared shapes would take 100 MB to 4 TB to build pass the static checks without anything
being materialised.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import (
    HOSTILE,
    MARKER,
    Hostile,
    external_model,
    int64s,
    save_model,
    tiny_classifier,
    value_info,
)
from validator import validate
from validator.checks import CHECKS, Stage
from validator.cli.main import cli
from validator.findings import Report, Status

STATIC = sorted(spec.id.value for spec in CHECKS if spec.stage is Stage.STATIC)


def run_cli(args: Sequence[str]) -> Result:
    """Invoke the CLI; any exception other than the final sys.exit is a crash."""
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI crashed: {result.exception!r}") from result.exception
    assert "Traceback" not in result.output
    return result


def assert_load_failed(tmp_path: Path, model: Path, words: Sequence[str]) -> None:
    report_path = tmp_path / "report.json"
    result = run_cli([str(model), "--checks-only", "--json", str(report_path)])
    assert result.exit_code == 1, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    load, *others = report["checks"]
    assert (load["id"], load["status"], report["verdict"]) == ("load", "fail", "fail")
    assert "\n" not in load["message"]
    for word in words:
        assert word in load["message"]
    assert {check["status"] for check in others} == {"skip"}
    assert "load" in result.output  # the table names the failed check


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.id)
def test_hostile_file_fails_load_with_exit_1(case: Hostile, tmp_path: Path) -> None:
    assert_load_failed(tmp_path, case.build(tmp_path), case.words)
    assert not list(tmp_path.rglob(MARKER)), "a pickle in the file was unpickled"


# The table renders messages and the model path as rich markup: a closing tag in a user's path
# or an external-data location raises MarkupError inside rich (a traceback, exit status 1).


def test_markup_in_an_external_data_location_is_printed_verbatim(tmp_path: Path) -> None:
    assert_load_failed(tmp_path, external_model(tmp_path, "[/bold]w.bin"), ["[/bold]w.bin"])


def test_markup_in_the_model_path_is_printed_verbatim(tmp_path: Path) -> None:
    model = tmp_path / "a[" / "b]" / "model.onnx"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    assert_load_failed(tmp_path, model, ["empty"])


@pytest.mark.slow  # 14 s on an idle machine, a minute when the 2 cores are shared
def test_graph_of_200k_nodes_passes_every_static_check(chain_200k: Path) -> None:
    report = validate(chain_200k, select=STATIC)
    statuses = {finding.id: finding.status for finding in report.findings}
    assert statuses == dict.fromkeys(["load", *STATIC], Status.PASS)
    assert report.measurements["nodes"] > 200_000


# --- tensors whose declared shape is enormous -------------------------------------------------

MIB = 2**20
INT64 = TensorProto.INT64


def _scalar(name: str, value: int) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, np.int64), name)


def _ones(name: str, shape: Sequence[int], dtype: type = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def _bomb_model(
    node: onnx.NodeProto, inits: Sequence[onnx.TensorProto], elem_type: int, rank: int
) -> onnx.ModelProto:
    """The classifier plus a side node computing ``bomb`` from small constants, and a NonZero
    whose output size is unknowable, so that the folding pass of shape inference runs too."""
    nonzero = helper.make_node("NonZero", ["features"], ["nonzero"])
    return tiny_classifier(
        extra_nodes=[nonzero, node],
        extra_initializers=inits,
        extra_outputs=[
            value_info("nonzero", [2, None], INT64),
            value_info("bomb", [None] * rank, elem_type),
        ],
    )


FILL = helper.make_tensor("value", TensorProto.FLOAT, [1], [1.0])
# Each would allocate at least 100 MB if it were evaluated (4 TB for the first).
BOMBS = {
    "constant-of-shape-1e12": (
        helper.make_node("ConstantOfShape", ["shape"], ["bomb"], value=FILL),
        [int64s("shape", [100_000, 100_000, 100])], TensorProto.FLOAT, 3),
    "constant-of-shape-100MB": (
        helper.make_node("ConstantOfShape", ["shape"], ["bomb"], value=FILL),
        [int64s("shape", [5000, 5000])], TensorProto.FLOAT, 2),
    "expand-100MB": (
        helper.make_node("Expand", ["one", "shape"], ["bomb"]),
        [_ones("one", [1]), int64s("shape", [5000, 5000])], INT64, 2),
    "tile-100MB": (
        helper.make_node("Tile", ["one", "reps"], ["bomb"]),
        [_ones("one", [1, 1]), int64s("reps", [5000, 5000])], INT64, 2),
    "range-100MB": (
        helper.make_node("Range", ["start", "limit", "delta"], ["bomb"]),
        [_scalar("start", 0), _scalar("limit", 25_000_000), _scalar("delta", 1)], INT64, 1),
}  # fmt: skip
# Small inputs (<= 4096 elements each) whose broadcast is huge.
BROADCAST_BOMBS = {
    "add-broadcast-134MB": (
        helper.make_node("Add", ["column", "row"], ["bomb"]),
        [_ones("column", [4096, 1]), _ones("row", [1, 4096])], INT64, 2),
    "where-broadcast-216MB": (
        helper.make_node("Where", ["cond", "column", "row"], ["bomb"]),
        [_ones("cond", [300, 1, 1], np.bool_), _ones("column", [1, 300, 1]),
         _ones("row", [1, 1, 300])], INT64, 3),
}  # fmt: skip
CASES = [pytest.param(*case, id=name) for name, case in {**BOMBS, **BROADCAST_BOMBS}.items()]


def _validate_tracing_memory(path: Path) -> tuple[Report, int]:
    """The static report and the peak of Python/numpy allocations while making it."""
    tracemalloc.start()
    try:
        report = validate(path, select=STATIC)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("node", "inits", "elem_type", "rank"), CASES)
def test_enormous_constant_is_never_materialised(
    tmp_path: Path, node: onnx.NodeProto, inits: list[onnx.TensorProto], elem_type: int, rank: int
) -> None:
    path = save_model(_bomb_model(node, inits, elem_type, rank), tmp_path / "model.onnx")
    report, peak = _validate_tracing_memory(path)
    load = report.get("load")
    assert load is not None and load.status is Status.PASS
    assert [f.id for f in report.findings if f.status is Status.ERROR] == []
    assert peak < 32 * MIB


def test_weight_of_1e12_elements_is_counted_without_being_built(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["huge_w"], value=FILL),
        helper.make_node("MatMul", ["features", "huge_w"], ["wide"]),
    ]
    model = tiny_classifier(
        extra_nodes=nodes,
        extra_initializers=[int64s("shape", [8, 125_000_000_000])],
        extra_outputs=[value_info("wide", ["N", 125_000_000_000])],
    )
    report, peak = _validate_tracing_memory(save_model(model, tmp_path / "model.onnx"))
    params = report.get("params")
    assert params is not None and params.status is Status.FAIL
    assert isinstance(params.measured, int) and params.measured >= 10**12
    assert peak < 32 * MIB
