"""Shared builders and fixtures: small ONNX models made in code, and hostile model files.

Builders are plain functions so test modules can import them (``from tests.conftest import
make_model``); fixtures wrap the common ones. ``HOSTILE`` is the table of malformed or malicious
model files that must each end as a failed ``load`` check (used by tests/unit/test_model.py
through the loader and by tests/integration/test_cli_hostile.py through the CLI).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
Dims = Sequence[int | str | None]


# --- generic model builders -------------------------------------------------------------------


def value_info(name: str, dims: Dims | None, elem_type: int = FLOAT) -> onnx.ValueInfoProto:
    """A tensor graph input/output; a str dim is symbolic (``"N"``), None an unknown dim."""
    return helper.make_tensor_value_info(name, elem_type, None if dims is None else list(dims))


def make_model(
    nodes: Sequence[onnx.NodeProto],
    inputs: Sequence[onnx.ValueInfoProto],
    outputs: Sequence[onnx.ValueInfoProto],
    initializers: Sequence[onnx.TensorProto] = (),
    *,
    opset: int = 13,
    ir_version: int = 8,
    name: str = "test",
) -> onnx.ModelProto:
    """A model around one graph. The defaults (opset 13, IR 8) are what the official environment
    (onnxruntime 1.10) loads, so a builder model passes the ``opset`` check unless asked not to."""
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(initializers))
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=ir_version,
        producer_name="robust-validate-tests",
    )


def weight(name: str, shape: Sequence[int], seed: int = 0) -> onnx.TensorProto:
    """A seeded random float32 initializer."""
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)


def int64s(name: str, values: Sequence[int]) -> onnx.TensorProto:
    """A 1-D int64 initializer (shapes, axes)."""
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def classifier_parts(
    num_classes: int = 100, width: int = 8
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes and weights of a tiny N x 3 x 224 x 224 -> N x ``num_classes`` classifier:
    Conv (stride 4) -> Relu -> GlobalAveragePool -> Flatten (``features``, N x width) ->
    Gemm (``output``). The Gemm is last, so callers can splice nodes in before the head."""
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], strides=[4, 4],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"], name="pool"),
        helper.make_node("Flatten", ["pool"], ["features"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["features", "fc_w", "fc_b"], ["output"], transB=1, name="fc"),
    ]  # fmt: skip
    initializers = [
        weight("conv_w", [width, 3, 3, 3], seed=1),
        weight("conv_b", [width], seed=2),
        weight("fc_w", [num_classes, width], seed=3),
        weight("fc_b", [num_classes], seed=4),
    ]
    return nodes, initializers


def tiny_classifier(
    num_classes: int = 100,
    extra_nodes: Sequence[onnx.NodeProto] = (),
    extra_initializers: Sequence[onnx.TensorProto] = (),
    extra_outputs: Sequence[onnx.ValueInfoProto] = (),
) -> onnx.ModelProto:
    """A valid, runnable N x 3 x 224 x 224 float32 -> N x ``num_classes`` classifier, optionally
    with side nodes (reading ``features`` or initializers) and extra graph outputs."""
    nodes, initializers = classifier_parts(num_classes)
    return make_model(
        [*nodes, *extra_nodes],
        [value_info("input", ["N", 3, 224, 224])],
        [value_info("output", ["N", num_classes]), *extra_outputs],
        [*initializers, *extra_initializers],
    )


def chain_classifier(length: int, num_classes: int = 100) -> onnx.ModelProto:
    """The tiny classifier with ``length`` extra nodes (Relu and Add of a scalar, alternating)
    between its features and its head: a very large, cheap and valid graph."""
    nodes, initializers = classifier_parts(num_classes)
    head = nodes.pop()
    half = numpy_helper.from_array(np.array([0.5], np.float32), "half")
    model = make_model(
        nodes,
        [value_info("input", ["N", 3, 224, 224])],
        [value_info("output", ["N", num_classes])],
        [*initializers, half],
    )
    graph, previous = model.graph, "features"
    for i in range(length):
        node = graph.node.add()  # in place: helper.make_node would copy each of 200,000 nodes
        node.op_type, node.name = ("Relu", f"r{i}") if i % 2 == 0 else ("Add", f"a{i}")
        node.input.append(previous)
        if node.op_type == "Add":
            node.input.append("half")
        previous = f"t{i}"
        node.output.append(previous)
    head.input[0] = previous
    graph.node.append(head)
    return model


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    """Serialise ``model`` to ``path`` (parents created) without onnx.save's checks, so that
    deliberately broken models can be written too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def write_model(tmp_path: Path) -> Callable[..., Path]:
    """``write_model(model, "name.onnx")`` saves under this test's tmp_path."""

    def write(model: onnx.ModelProto, name: str = "model.onnx") -> Path:
        return save_model(model, tmp_path / name)

    return write


# --- hostile and malformed model files --------------------------------------------------------

MARKER = "UNPICKLED"  # a file the pickle payloads below create if anything ever unpickles them


class _Payload:
    """Unpickling this opens (creates) ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def pickle_payload(folder: Path, protocol: int = 2) -> bytes:
    """A pickle that would create ``folder / MARKER`` when loaded."""
    data: bytes = pickle.dumps(_Payload(folder / MARKER), protocol=protocol)
    return data


def _small_model(
    nodes: Sequence[onnx.NodeProto] = (),
    initializers: Sequence[onnx.TensorProto] = (),
    opset: int = 13,
) -> onnx.ModelProto:
    nodes = list(nodes) or [helper.make_node("Relu", ["x"], ["y"])]
    io = ([value_info("x", [1, 4])], [value_info("y", [1, 4])])
    return make_model(nodes, *io, initializers, opset=opset)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def external_model(
    folder: Path,
    location: str,
    *,
    offset: int | str | None = None,
    length: int | str | None = None,
) -> Path:
    """``folder/model.onnx`` whose 1 x 4 float weight ``w`` is external data at ``location``
    (nothing is written at the location)."""
    tensor = TensorProto(name="w", data_type=FLOAT, dims=[1, 4])
    tensor.data_location = TensorProto.EXTERNAL
    entries = {"location": location, "offset": offset, "length": length}
    for key, value in entries.items():
        if value is not None:
            tensor.external_data.add(key=key, value=str(value))
    model = _small_model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor])
    return save_model(model, folder / "model.onnx")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (appending one to a message's bytes adds the field)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_if_model(depth: int) -> bytes:
    """A model whose graph holds an If whose then-branch holds an If ... ``depth`` deep.
    Serialised by hand: protobuf refuses to build messages nested this deep in Python."""

    def leaf(name: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node("Relu", ["x"], [name])], name, [], [value_info(name, [1, 4])]
        )

    inner = leaf("deepest").SerializeToString()
    for level in range(depth):
        then = onnx.AttributeProto(name="then_branch", type=onnx.AttributeProto.GRAPH)
        attribute = then.SerializeToString() + _field(6, inner)  # AttributeProto.g = 6
        node = helper.make_node("If", ["cond"], [f"out{level}"], else_branch=leaf(f"else{level}"))
        node_bytes = node.SerializeToString() + _field(5, attribute)  # NodeProto.attribute = 5
        top = level == depth - 1
        shell = helper.make_graph(
            [], f"level{level}",
            [value_info("x", [1, 4])] if top else [],
            [value_info(f"out{level}", [1, 4])],
            [helper.make_tensor("cond", TensorProto.BOOL, [], [True])] if top else [],
        )  # fmt: skip
        inner = shell.SerializeToString() + _field(1, node_bytes)  # GraphProto.node = 1
    model = onnx.ModelProto(ir_version=8, opset_import=[helper.make_opsetid("", 13)])
    return bytes(model.SerializeToString()) + _field(7, inner)  # ModelProto.graph = 7


def _torch_zip(folder: Path) -> Path:
    path = folder / "model.onnx"
    with zipfile.ZipFile(path, "w") as archive:  # the layout torch.save writes
        archive.writestr("archive/data.pkl", pickle_payload(folder))
        archive.writestr("archive/version", "3\n")
    return path


def _huge_dims(folder: Path) -> Path:
    tensor = TensorProto(name="w", data_type=FLOAT, dims=[100000, 100000, 100])
    model = _small_model([helper.make_node("Add", ["x", "w"], ["y"])], [tensor])
    return save_model(model, folder / "model.onnx")


def _cycle(folder: Path) -> Path:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Identity", ["a"], ["y"]),
    ]
    return save_model(_small_model(nodes), folder / "model.onnx")


def _truncated(folder: Path) -> Path:
    data = save_model(tiny_classifier(), folder / "whole.onnx").read_bytes()
    return _write(folder, "model.onnx", data[: len(data) // 2])


def _symlink_outside(folder: Path) -> Path:
    outside = _write(folder, "outside.bin", np.ones(4, np.float32).tobytes())
    inside = folder / "model_dir"
    inside.mkdir()
    os.symlink(outside, inside / "weights.bin")
    return external_model(inside, "weights.bin")


def _symlink_inside(folder: Path) -> Path:
    _write(folder, "blobs/w.bin", np.ones(4, np.float32).tobytes())
    os.symlink(folder / "blobs" / "w.bin", folder / "weights.bin")
    return external_model(folder, "weights.bin")


def _symlink_loop(folder: Path) -> Path:
    os.symlink("weights.bin", folder / "weights.bin")
    return external_model(folder, "weights.bin")


def _short_data(folder: Path, **extent: int | str) -> Path:
    _write(folder, "weights.bin", np.ones(4, np.float32).tobytes())  # 16 bytes
    return external_model(folder, "weights.bin", **extent)


def _directory_as_data(folder: Path) -> Path:
    (folder / "weights").mkdir()
    return external_model(folder, "weights")


def _over_2gib(folder: Path) -> Path:
    path = folder / "model.onnx"
    with path.open("wb") as handle:
        handle.truncate(2**31 + 1)  # sparse: no disk space, and never read
    return path


def _directory(folder: Path) -> Path:
    path = folder / "model.onnx"
    path.mkdir()
    return path


@dataclass(frozen=True)
class Hostile:
    """One hostile file: ``build(folder)`` writes it and returns the path to give the tool;
    the load reason must contain every one of ``words``."""

    id: str
    build: Callable[[Path], Path]
    words: tuple[str, ...]


HOSTILE = [
    Hostile("empty", lambda d: _write(d, "model.onnx", b""), ("empty", "0 bytes")),
    Hostile("random-bytes",
            lambda d: _write(d, "model.onnx", np.random.default_rng(7).bytes(4096)),
            ("not a valid ONNX protobuf",)),
    Hostile("truncated", _truncated, ("not a valid ONNX protobuf", "truncated")),
    Hostile("torch-zip-renamed", _torch_zip, ("PyTorch checkpoint", "not an ONNX model")),
    Hostile("pickle-renamed", lambda d: _write(d, "model.onnx", pickle_payload(d)),
            ("pickle", "not unpickled")),
    Hostile("pickle-protocol-0", lambda d: _write(d, "model.onnx", pickle_payload(d, 0)),
            ("not a valid ONNX protobuf",)),
    Hostile("huge-dims-no-data", _huge_dims,
            ("'w'", "[100000, 100000, 100]", "1000000000000 elements", "0 bytes")),
    Hostile("cycle", _cycle, ("cycle", "topologically sorted")),
    Hostile("future-opset",
            lambda d: save_model(_small_model(opset=999), d / "model.onnx"),
            ("opset 999", "newer")),
    Hostile("if-nested-300-deep", lambda d: _write(d, "model.onnx", nested_if_model(300)),
            ("nested deeper",)),
    Hostile("external-dotdot", lambda d: external_model(d / "sub", "../outside.bin"),
            ("leaves the model's folder", "../outside.bin")),
    Hostile("external-absolute", lambda d: external_model(d, "/etc/passwd"),
            ("absolute path", "/etc/passwd")),
    Hostile("external-symlink-outside", _symlink_outside,
            ("resolves outside the model's folder", "weights.bin")),
    Hostile("external-missing", lambda d: external_model(d, "weights.bin"),
            ("weights.bin", "missing")),
    Hostile("external-past-end", lambda d: _short_data(d, offset=8, length=16),
            ("wants bytes 8..24", "weights.bin", "16 bytes")),
    Hostile("external-length-mismatch", lambda d: _short_data(d, length=8),
            ("8 bytes", "needs 16")),
    Hostile("external-offset-not-a-number", lambda d: _short_data(d, offset="zero"),
            ("offset", "not a number")),
    Hostile("external-nul-byte", lambda d: external_model(d, "weights\x00.bin"),
            ("external data", "weights\\x00.bin")),
    Hostile("external-name-too-long", lambda d: external_model(d, "w" * 5000),
            ("external data", "too long")),
    Hostile("external-symlink-inside", _symlink_inside,
            ("weights.bin", "symbolic link", "refuses")),
    Hostile("external-symlink-loop", _symlink_loop, ("external data", "loop")),
    Hostile("external-is-a-directory", _directory_as_data,
            ("external data", "not a regular file")),
    Hostile("over-2-gib", _over_2gib, ("over 2 GiB", "external data")),
    Hostile("directory", _directory, ("is a directory",)),
    Hostile("nonexistent", lambda d: d / "missing.onnx", ("missing.onnx", "does not exist")),
    Hostile("path-too-long", lambda d: d / ("m" * 5000 + ".onnx"), ("too long",)),
]  # fmt: skip


CHAIN_LENGTH = 200_000


@pytest.fixture(scope="session")
def chain_200k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid classifier of 200,000+ nodes (written once per test session)."""
    folder = tmp_path_factory.mktemp("chain")
    return save_model(chain_classifier(CHAIN_LENGTH), folder / "chain_200k.onnx")
