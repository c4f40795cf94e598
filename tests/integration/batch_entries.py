"""A folder of about a dozen submissions for batch tests and the batch benchmark: passing
models (two tied, one at a different score, one in a folder with external data, one
duplicated), rule breakers, an ensemble, a truncated file, a model that hangs at run time, one
that allocates without bound, and entries that are not submissions. All at the colour
profile's 16 x 16 input with 3 classes, so each evaluation takes seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests import builders
from validator.batch.submissions import zip_route

# A tight profile: the hang and the bomb end in seconds, well-behaved models are untouched.
TIGHT = """base = "final"
name = "tiny-tight"
num_classes = 3
input_size = 16
limit_analysis_s = 60
limit_runtime_s = 6
limit_scoring_s = 60
limit_memory_bytes = 3_000_000_000
"""

# id -> (status, verdict); verdict None for entries that are not submissions.
EXPECTED: dict[str, tuple[str, str | None]] = {
    "alpha.onnx": ("ok", "pass"),
    "alpha-copy.onnx": ("ok", "pass"),
    "beta.onnx": ("ok", "pass"),
    "gamma.onnx": ("ok", "pass"),
    "folder-model": ("ok", "pass"),
    "five-classes.onnx": ("ok", "fail"),
    "wrong-input.onnx": ("ok", "fail"),
    "ensemble.onnx": ("ok", "fail"),
    "truncated.onnx": ("ok", "fail"),
    "hang.onnx": ("timeout", "fail"),
    "bomb.onnx": ("memory", "fail"),
    "notes.txt": ("invalid", None),
    # an empty zip: refused by the zip route (a failed load), or invalid without torch
    "pytorch.zip": ("invalid", None) if zip_route() else ("ok", "fail"),
    "empty-folder": ("invalid", None),
}
# evaluations a run makes: every submission once, the duplicate sharing alpha's
DISTINCT = sum(1 for status, _ in EXPECTED.values() if status != "invalid") - 1
FAILED_CHECK = {
    "five-classes.onnx": "output",
    "wrong-input.onnx": "input",
    "ensemble.onnx": "ensemble",
    "truncated.onnx": "load",
    "hang.onnx": "runtime",
    "bomb.onnx": "runtime",
}


def build(root: Path) -> tuple[Path, Path, Path]:
    """Write the submissions under ``root/submissions``, the profile and the data set; return
    (submissions, profile, data)."""
    subs = root / "submissions"
    subs.mkdir(parents=True)
    alpha = builders.colour_model(subs / "alpha.onnx")
    shutil.copyfile(alpha, subs / "alpha-copy.onnx")
    _projection_model(subs / "beta.onnx", np.eye(3, dtype=np.float32) * 2)  # same answers
    builders.colour_model(subs / "gamma.onnx", constant=True)  # always class 0
    folder = subs / "folder-model"
    folder.mkdir()
    model = onnx.load(str(alpha))
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True,
                    location="weights.bin", size_threshold=0)  # fmt: skip
    builders.colour_model(subs / "five-classes.onnx", classes=5)
    onnx.save(builders.classifier(num_classes=3), subs / "wrong-input.onnx")
    onnx.save(ensemble(), subs / "ensemble.onnx")
    data = alpha.read_bytes()
    (subs / "truncated.onnx").write_bytes(data[: len(data) // 2])
    onnx.save(loop_forever(), subs / "hang.onnx")
    onnx.save(tile_bomb(), subs / "bomb.onnx")
    (subs / "notes.txt").write_text("not a model\n")
    (subs / "pytorch.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (subs / "empty-folder").mkdir()
    profile = root / "tight.toml"
    profile.write_text(TIGHT)
    return subs, profile, builders.colour_dataset(root / "data")


def _io(classes: int = 3) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    size = builders.COLOUR_SIZE
    return (
        helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, size, size]),
        helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes]),
    )


def _finish(nodes: list[onnx.NodeProto], inits: list[TensorProto]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "m", [_io()[0]], [_io()[1]], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", builders.OPSET)])
    model.ir_version = 8
    return model


def _projection_model(path: Path, projection: np.ndarray) -> Path:
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "projection"], ["output"]),
    ]
    onnx.save(_finish(nodes, [numpy_helper.from_array(projection, "projection")]), path)
    return path


def _head(source: str, prefix: str, widths: tuple[int, ...], seed: int) -> tuple[list, list]:
    """Conv stack of ``widths`` (stride 2) then a 3-class Gemm head: one ensemble member."""
    rng = np.random.default_rng(seed)
    nodes, inits, x, cin = [], [], source, 3
    for i, width in enumerate(widths):
        w = f"{prefix}w{i}"
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((width, cin, 3, 3)) * 0.2).astype(np.float32), w))  # fmt: skip
        nodes += [
            helper.make_node("Conv", [x, w], [f"{prefix}c{i}"], strides=[2, 2], pads=[1] * 4),
            helper.make_node("Relu", [f"{prefix}c{i}"], [f"{prefix}r{i}"]),
        ]
        x, cin = f"{prefix}r{i}", width
    fc = f"{prefix}fc"
    inits.append(numpy_helper.from_array(
        (rng.standard_normal((3, cin)) * 0.2).astype(np.float32), fc))  # fmt: skip
    nodes += [
        helper.make_node("GlobalAveragePool", [x], [f"{prefix}p"]),
        helper.make_node("Flatten", [f"{prefix}p"], [f"{prefix}f"]),
        helper.make_node("Gemm", [f"{prefix}f", fc], [f"{prefix}logits"], transB=1),
    ]
    return nodes, inits


def ensemble() -> onnx.ModelProto:
    """Two separately built conv networks whose logits are added."""
    a_nodes, a_inits = _head("input", "a_", (8, 16), 1)
    b_nodes, b_inits = _head("input", "b_", (16, 32, 32), 2)
    fuse = helper.make_node("Add", ["a_logits", "b_logits"], ["output"])
    return _finish([*a_nodes, *b_nodes, fuse], [*a_inits, *b_inits])


def loop_forever() -> onnx.ModelProto:
    """The colour model behind a Loop of 2**62 iterations that adds 0 to the input."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["x_in", "zero"], ["x_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )  # fmt: skip
    nodes = [
        helper.make_node("Loop", ["trip", "cond", "input"], ["looped"], body=body),
        helper.make_node("GlobalAveragePool", ["looped"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["output"]),
    ]
    inits = [numpy_helper.from_array(np.array(2**62, np.int64), "trip"),
             numpy_helper.from_array(np.array(True), "cond")]  # fmt: skip
    return _finish(nodes, inits)


def tile_bomb() -> onnx.ModelProto:
    """Tiles the input 140,000 times along channels at run time (3.4 GB at the runtime
    check's batch of 8), then averages back: harmless to analyse, explosive to run."""
    nodes = [
        helper.make_node("Tile", ["input", "reps"], ["big"]),
        helper.make_node("ReduceMean", ["big"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Expand", ["mean", "three"], ["back"]),
        helper.make_node("GlobalAveragePool", ["back"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["output"]),
    ]
    inits = [numpy_helper.from_array(np.array(v, np.int64), n)
             for n, v in (("reps", [1, 140_000, 1, 1]), ("three", [1, 3, 1, 1]))]  # fmt: skip
    return _finish(nodes, inits)
