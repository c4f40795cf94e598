"""The hostile MODEL corpus: ONNX files a hostile user could hand robust-validate, built in code.

Each :class:`Case` writes its file(s) into a folder and says what the CLI must answer: the exit
status, the check that decides, its status and words its message must contain. The cases are
grouped by the mechanism that defends against them: text taken from the model (escaped
everywhere), external data (confined wherever a TensorProto can live), analysis bombs (nothing
materialised above a cap, function expansion bounded, int64 overflow an error), declared
interface problems, and files that are not models at all.

``tools/build_hostile_corpus.py`` writes the corpus to a folder (with a manifest) for tools that
need the files themselves; tests/integration/test_hostile_corpus.py runs every case through the
CLI in a child process bounded in time and memory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import (
    HOSTILE,
    classifier_parts,
    int64s,
    make_model,
    save_model,
    tiny_classifier,
    value_info,
)

INT64 = TensorProto.INT64
STATIC = "fp32,input,output,params,file-size,flops,opset,operators,ensemble"
SIDE, BOMB = value_info("side", [None, None]), value_info("bomb", [None, None])
ESCAPE = "\x1b[2J\x1b[31m"  # clear the screen, then red: must never reach a terminal raw
BIDI = "\u202e"  # right-to-left override: makes text read differently than it is


@dataclass(frozen=True)
class Case:
    """One hostile input: ``build(folder)`` writes it and returns the model path to check."""

    id: str
    build: Callable[[Path], Path]
    exit: int
    check: str
    status: str
    words: tuple[str, ...] = ()
    args: tuple[str, ...] = ("--checks", STATIC)
    path_suffix: str = ""  # how the report's model path must end (escaped)
    loop_hang: bool = False  # the runtime would spin for ever: only isolation can end it


# --- text from the model ------------------------------------------------------------------------

_MARK = "ZZMARKZZZ"  # replaced by raw bytes after serialisation (protobuf refuses invalid UTF-8)


def _with_bytes(model: onnx.ModelProto, folder: Path, raw: bytes) -> Path:
    """Save ``model`` with every occurrence of _MARK replaced by ``raw``, which must be as long
    (the serialised length prefixes stay right)."""
    if len(raw) != len(_MARK):
        raise ValueError(f"{raw!r} must be {len(_MARK)} bytes")
    data = model.SerializeToString().replace(_MARK.encode(), raw)
    path = folder / "model.onnx"
    path.write_bytes(data)
    return path


def _renamed_output(name: str) -> onnx.ModelProto:
    model = tiny_classifier()
    model.graph.node[-1].output[0] = name
    model.graph.output[0].name = name
    return model


def _escape_names(folder: Path) -> Path:
    model = _renamed_output(f"logits{ESCAPE}{BIDI}")
    for node in model.graph.node:
        node.name = f"{node.name}{ESCAPE}"
        node.doc_string = f"doc{ESCAPE}"
    model.producer_name = f"evil{ESCAPE}"
    model.doc_string = f"{BIDI}doc"
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = f"N{ESCAPE}"
    onnx.helper.set_model_props(model, {f"key{ESCAPE}": f"value{BIDI}"})
    return save_model(model, folder / "model.onnx")


def _invalid_utf8_output(folder: Path) -> Path:
    return _with_bytes(_renamed_output(_MARK), folder, b"out\xff\xfe\x1b[2J")


def _invalid_utf8_everywhere(folder: Path) -> Path:
    model = _renamed_output(_MARK)
    for node in model.graph.node:
        node.name, node.doc_string = _MARK, _MARK
    model.producer_name = _MARK
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = _MARK
    onnx.helper.set_model_props(model, {_MARK: _MARK})
    return _with_bytes(model, folder, b"bad\xc3\x28\xa0\xa1\x1b]")


def _invalid_utf8_custom_domain(folder: Path) -> Path:
    nodes, inits = classifier_parts()
    nodes.insert(1, helper.make_node("Odd", ["conv"], ["odd"], domain=_MARK))
    nodes[2].input[0] = "odd"
    model = make_model(nodes, [value_info("input", ["N", 3, 224, 224])],
                       [value_info("output", ["N", 100])], inits)  # fmt: skip
    model.opset_import.append(helper.make_opsetid(_MARK, 1))
    return _with_bytes(model, folder, b"dom\xff\x1b[31m")


def _file_name_not_utf8(folder: Path) -> Path:
    name = os.fsdecode(b"model\xff\x1b[2J.onnx")  # surrogate-escaped, as argv gives it
    return save_model(tiny_classifier(), folder / name)


# --- external data wherever a TensorProto can live ----------------------------------------------


def _external(name: str, location: str, dims: Sequence[int] = (1,)) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(dims))
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    return tensor


def _secret(folder: Path) -> str:
    """A 4-byte file outside the model's folder, and the relative path that reaches it."""
    (folder / "secret.bin").write_bytes(np.ones(1, np.float32).tobytes())
    (folder / "model").mkdir()
    return "../secret.bin"


def _in_model_dir(folder: Path, model: onnx.ModelProto) -> Path:
    return save_model(model, folder / "model" / "model.onnx")


def _ext_constant_attribute(folder: Path) -> Path:
    const = helper.make_node("Constant", [], ["c"], value=_external("c", _secret(folder)))
    add = helper.make_node("Add", ["features", "c"], ["side"])
    model = tiny_classifier(
        extra_nodes=[const, add], extra_outputs=[value_info("side", [None, None])]
    )
    return _in_model_dir(folder, model)


def _ext_subgraph(folder: Path) -> Path:
    location = _secret(folder)
    branch = helper.make_graph([helper.make_node("Identity", ["w"], ["b"])], "branch", [],
                               [value_info("b", [1])], [_external("w", location)])  # fmt: skip
    other = helper.make_graph([helper.make_node("Identity", ["one"], ["b2"])], "other", [],
                              [value_info("b2", [1])],
                              [numpy_helper.from_array(np.ones(1, np.float32), "one")])  # fmt: skip
    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["side"], then_branch=branch, else_branch=other)
    model = tiny_classifier(extra_nodes=[node], extra_initializers=[cond],
                            extra_outputs=[SIDE])  # fmt: skip
    return _in_model_dir(folder, model)


def _ext_function(folder: Path) -> Path:
    const = helper.make_node("Constant", [], ["c"], value=_external("c", _secret(folder)))
    add = helper.make_node("Add", ["x", "c"], ["y"])
    function = helper.make_function("local", "AddSecret", ["x"], ["y"], [const, add],
                                    [helper.make_opsetid("", 13)])  # fmt: skip
    call = helper.make_node("AddSecret", ["features"], ["side"], domain="local")
    model = tiny_classifier(extra_nodes=[call], extra_outputs=[SIDE])
    model.opset_import.append(helper.make_opsetid("local", 1))
    model.functions.append(function)
    return _in_model_dir(folder, model)


def _ext_sparse(part: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        location = _secret(folder)
        values = numpy_helper.from_array(np.ones(1, np.float32), "sparse")
        indices = numpy_helper.from_array(np.zeros(1, np.int64), "sparse_indices")
        sparse = helper.make_sparse_tensor(values, indices, [8])
        target = sparse.values if part == "values" else sparse.indices
        external = _external(target.name, location, list(target.dims))
        external.data_type = target.data_type
        target.CopyFrom(external)
        add = helper.make_node("Add", ["features", "sparse"], ["side"])
        model = tiny_classifier(extra_nodes=[add], extra_outputs=[SIDE])
        model.graph.sparse_initializer.append(sparse)
        return _in_model_dir(folder, model)

    return build


def _ext_training_info(folder: Path) -> Path:
    location = _secret(folder)
    init = helper.make_graph([helper.make_node("Identity", ["w"], ["w_out"])], "init", [],
                             [value_info("w_out", [1])], [_external("w", location)])  # fmt: skip
    model = tiny_classifier()
    info = model.training_info.add()
    info.initialization.CopyFrom(init)
    return _in_model_dir(folder, model)


def _ext_cwd_only(folder: Path) -> Path:
    """External data named relative, present in the current directory of the test run but not
    in the model's folder: reading it would mean resolving against the working directory."""
    (folder / "model").mkdir()
    const = helper.make_node("Constant", [], ["c"], value=_external("c", "cwd_only.bin"))
    add = helper.make_node("Add", ["features", "c"], ["side"])
    model = tiny_classifier(
        extra_nodes=[const, add], extra_outputs=[value_info("side", [None, None])]
    )
    return _in_model_dir(folder, model)


# --- analysis bombs -----------------------------------------------------------------------------


def _side_model(nodes: Sequence[onnx.NodeProto], inits: Sequence[TensorProto],
                rank: int | None, elem: int = TensorProto.FLOAT) -> onnx.ModelProto:  # fmt: skip
    """The tiny classifier plus side nodes ending in ``bomb`` (an extra output), and a NonZero
    whose output size is unknowable, so that the folding pass of shape inference runs too."""
    nonzero = helper.make_node("NonZero", ["features"], ["nonzero"])
    return tiny_classifier(
        extra_nodes=[nonzero, *nodes],
        extra_initializers=list(inits),
        extra_outputs=[value_info("nonzero", [2, None], INT64),
                       value_info("bomb", None if rank is None else [None] * rank, elem)],
    )  # fmt: skip


def _scalar(name: str, value: int) -> TensorProto:
    return numpy_helper.from_array(np.array(value, np.int64), name)


def _bomb(nodes: Sequence[onnx.NodeProto], inits: Sequence[TensorProto], rank: int | None,
          elem: int = INT64) -> Callable[[Path], Path]:  # fmt: skip
    return lambda folder: save_model(_side_model(nodes, inits, rank, elem), folder / "model.onnx")


ONE = numpy_helper.from_array(np.ones([1], np.int64), "one")
FILL = helper.make_tensor("value", TensorProto.FLOAT, [1], [1.0])
BIG = [100_000, 100_000, 100]  # 1e12 elements


def _resize_baseline(folder: Path) -> Path:
    """The tiny classifier with one Resize scaling its feature map 1000 x 1000 before pooling:
    the analysis is a few numbers, running it would need 2.5 TB."""
    nodes, inits = classifier_parts()
    scales = numpy_helper.from_array(np.array([1, 1, 1000, 1000], np.float32), "scales")
    resize = helper.make_node("Resize", ["relu", "", "scales"], ["big"], mode="nearest")
    nodes.insert(2, resize)
    nodes[3].input[0] = "big"
    model = make_model(nodes, [value_info("input", ["N", 3, 224, 224])],
                       [value_info("output", ["N", 100])], [*inits, scales])  # fmt: skip
    return save_model(model, folder / "model.onnx")


def _function_bomb(depth: int, recursive: bool = False) -> Callable[[Path], Path]:
    """Function f0 calls f1 twice, f1 calls f2 twice, ...: 2**depth Relu nodes once expanded."""

    def build(folder: Path) -> Path:
        opsets = [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)]
        functions = []
        for level in range(depth):
            callee = f"f{level + 1}" if level + 1 < depth else None
            if recursive and callee is None:
                callee = "f0"
            nodes = ([helper.make_node(callee, ["x"], ["h"], domain="local"),
                      helper.make_node(callee, ["h"], ["y"], domain="local")] if callee
                     else [helper.make_node("Relu", ["x"], ["y"])])  # fmt: skip
            functions.append(helper.make_function("local", f"f{level}", ["x"], ["y"], nodes,
                                                  opsets))  # fmt: skip
        call = helper.make_node("f0", ["features"], ["bomb"], domain="local")
        model = tiny_classifier(
            extra_nodes=[call], extra_outputs=[value_info("bomb", [None, None])]
        )
        model.opset_import.append(helper.make_opsetid("local", 1))
        model.functions.extend(functions)
        return save_model(model, folder / "model.onnx")

    return build


def _overflow_reshape(folder: Path) -> Path:
    """A Reshape target computed as 2**62 * 4: int64 arithmetic wraps it to 0."""
    nodes = [
        helper.make_node("Shape", ["nonzero"], ["nz_shape"]),
        helper.make_node("Mul", ["huge", "four"], ["wrapped"]),
        helper.make_node("Concat", ["wrapped", "one"], ["target"], axis=0),
        helper.make_node("Reshape", ["features", "target"], ["bomb"]),
    ]
    inits = [int64s("huge", [2**62]), int64s("four", [4]), ONE]
    return save_model(_side_model(nodes, inits, 2), folder / "model.onnx")


def _overflow_dims(folder: Path) -> Path:
    """ConstantOfShape of [2**40, 2**40]: 2**80 elements, more than int64 can count."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["bomb"], value=FILL)]
    return _bomb(nodes, [int64s("shape", [2**40, 2**40])], 2, TensorProto.FLOAT)(folder)


# --- the declared interface and the opsets ------------------------------------------------------


def _output_dims(dims: Sequence[int | str]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        model = tiny_classifier()
        del model.graph.output[0].type.tensor_type.shape.dim[:]
        for d in dims:
            dim = model.graph.output[0].type.tensor_type.shape.dim.add()
            if isinstance(d, int):
                dim.dim_value = d
            else:
                dim.dim_param = d
        return save_model(model, folder / "model.onnx")

    return build


def _double_opset(domain: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        model = tiny_classifier()
        model.opset_import.append(helper.make_opsetid(domain, 17))
        return save_model(model, folder / "model.onnx")

    return build


def _loop_2_62(folder: Path) -> Path:
    """A Loop of 2**62 iterations (a cheap Add each) between the features and the head: the
    static checks count it in an instant; running it would not end."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "step"], ["acc_out"])],
        "body",
        [value_info("i", [], INT64), value_info("cond_in", [], TensorProto.BOOL),
         value_info("acc_in", ["N", 8])],
        [value_info("cond_out", [], TensorProto.BOOL), value_info("acc_out", ["N", 8])],
        [numpy_helper.from_array(np.zeros(1, np.float32), "step")],
    )  # fmt: skip
    nodes, inits = classifier_parts()
    loop = helper.make_node("Loop", ["trips", "keep_going", "features"], ["looped"], body=body)
    nodes.insert(4, loop)
    nodes[5].input[0] = "looped"
    inits += [_scalar("trips", 2**62), numpy_helper.from_array(np.array(True), "keep_going")]
    model = make_model(nodes, [value_info("input", ["N", 3, 224, 224])],
                       [value_info("output", ["N", 100])], inits)  # fmt: skip
    return save_model(model, folder / "model.onnx")


def _not_models() -> list[Case]:
    chosen = ("truncated", "random-bytes", "pickle-renamed", "if-nested-300-deep", "cycle")
    return [
        Case(f"file-{h.id}", h.build, 1, "load", "fail", h.words) for h in HOSTILE if h.id in chosen
    ]


ESCAPED = "\\x1b[2J\\x1b[31m"
CASES: list[Case] = [
    # text from the model, and the model's own file name
    Case("text-escapes-in-names", _escape_names, 0, "output", "pass", (ESCAPED, "\\u202e")),
    Case("text-invalid-utf8-output-name", _invalid_utf8_output, 0, "output", "pass",
         ("out\\\\xff\\\\xfe\\x1b[2J",)),
    Case("text-invalid-utf8-everywhere", _invalid_utf8_everywhere, 0, "output", "pass",
         ("bad\\\\xc3(\\\\xa0\\\\xa1\\x1b]",)),
    Case("text-invalid-utf8-domain", _invalid_utf8_custom_domain, 1, "operators", "warn",
         ("dom\\xff\\x1b[31m.Odd",)),
    Case("text-file-name-not-utf8", _file_name_not_utf8, 0, "load", "pass",
         path_suffix="model\\xff\\x1b[2J.onnx"),
    # external data outside the model's folder, wherever a TensorProto can live
    Case("external-constant-attribute", _ext_constant_attribute, 1, "load", "fail",
         ("'c'", "leaves the model's folder", "../secret.bin")),
    Case("external-if-branch", _ext_subgraph, 1, "load", "fail",
         ("'w'", "leaves the model's folder")),
    Case("external-local-function", _ext_function, 1, "load", "fail",
         ("'c'", "leaves the model's folder")),
    Case("external-sparse-values", _ext_sparse("values"), 1, "load", "fail",
         ("'sparse'", "leaves the model's folder")),
    Case("external-sparse-indices", _ext_sparse("indices"), 1, "load", "fail",
         ("'sparse_indices'", "leaves the model's folder")),
    Case("external-training-info", _ext_training_info, 1, "load", "fail",
         ("'w'", "leaves the model's folder")),
    Case("external-only-in-cwd", _ext_cwd_only, 1, "load", "fail", ("cwd_only.bin", "missing")),
    # analysis bombs
    Case("bomb-expand", _bomb([helper.make_node("Expand", ["one", "shape"], ["bomb"])],
                              [ONE, int64s("shape", BIG)], 3), 1, "flops", "pass"),
    Case("bomb-tile-longer-reps", _bomb([helper.make_node("Tile", ["one", "reps"], ["bomb"])],
                                        [ONE, int64s("reps", [50_000, 50_000])], 2),
         1, "flops", "pass"),
    Case("bomb-constant-of-shape", _bomb(
        [helper.make_node("ConstantOfShape", ["shape"], ["bomb"], value=FILL)],
        [int64s("shape", BIG)], 3, TensorProto.FLOAT), 1, "flops", "pass"),
    Case("bomb-range", _bomb([helper.make_node("Range", ["start", "limit", "delta"], ["bomb"])],
                             [_scalar("start", 0), _scalar("limit", 2**62),
                              _scalar("delta", 1)], 1), 1, "flops", "pass"),
    Case("bomb-resize-1000x", _resize_baseline, 1, "flops", "fail", ("multiply-adds",)),
    Case("bomb-function-expansion", _function_bomb(40), 1, "load", "fail",
         ("model-local functions expand to 549,755,813,887 more nodes", "limit 1,000,000")),
    Case("bomb-function-recursion", _function_bomb(3, recursive=True), 1, "load", "fail",
         ("'f0' calls itself", "recursive")),
    Case("overflow-reshape-target", _overflow_reshape, 1, "flops", "error",
         ("overflows int64", "Mul", "18446744073709551616")),
    Case("overflow-element-count", _overflow_dims, 1, "flops", "error",
         ("'bomb'", "1099511627776 x 1099511627776", "more than int64 can count")),
    # the declared interface and the opsets
    Case("output-dim-zero", _output_dims(["N", 0]), 1, "output", "fail", ("N x 0", "dim 1 is 0")),
    Case("output-dim-negative", _output_dims(["N", -100]), 1, "output", "fail",
         ("dim 1 is -100",)),
    Case("opset-default-twice", _double_opset(""), 1, "load", "fail",
         ("default-domain opset is imported twice", "versions 13 and 17")),
    Case("opset-ai-onnx-alias", _double_opset("ai.onnx"), 1, "load", "fail",
         ("default", "twice")),
    Case("loop-2-62-static", _loop_2_62, 0, "operators", "warn", ("Loop",), loop_hang=True),
    *_not_models(),
]  # fmt: skip
