"""Every tensor found wherever it lives; opset imports and function expansion refused at load."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tests.conftest import tiny_classifier, value_info
from validator.loading.errors import ModelLoadError
from validator.loading.limits import (
    MAX_EXPANDED_NODES,
    check_function_expansion,
    check_opset_imports,
)
from validator.loading.proto_walk import iter_tensors


def _t(name: str) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(1, np.float32), name)


def _everywhere() -> onnx.ModelProto:
    model = tiny_classifier()
    branch = helper.make_graph([], "g", [], [value_info("in_branch", [1])], [_t("in_branch")])
    model.graph.node.append(helper.make_node("If", ["c"], ["o"], then_branch=branch,
                                             else_branch=branch))  # fmt: skip
    model.graph.node.append(helper.make_node("Constant", [], ["k"], value=_t("in_attribute")))
    sparse = helper.make_sparse_tensor(_t("sparse_values"),
                                       numpy_helper.from_array(np.zeros(1, np.int64),
                                                               "sparse_indices"), [4])  # fmt: skip
    model.graph.sparse_initializer.append(sparse)
    const = helper.make_node("Constant", [], ["y"], value=_t("in_function"))
    model.functions.append(helper.make_function("local", "F", [], ["y"], [const], []))
    info = model.training_info.add()
    info.algorithm.initializer.append(_t("in_training"))
    return model


def test_every_tensor_is_found_wherever_it_lives() -> None:
    names = {t.name for t in iter_tensors(_everywhere())}
    assert names >= {"conv_w", "in_branch", "in_attribute", "sparse_values", "sparse_indices",
                     "in_function", "in_training"}  # fmt: skip


@pytest.mark.parametrize(
    ("domains", "refused"),
    [
        ([("", 13)], None),
        ([("", 13), ("com.microsoft", 1)], None),
        ([("", 13), ("", 17)], "default-domain opset is imported twice (versions 13 and 17)"),
        ([("", 13), ("ai.onnx", 13)], "default-domain opset is imported twice"),
        ([("", 13), ("x", 1), ("x", 2)], "opset 'x' is imported twice"),
    ],
)
def test_a_domain_imported_twice_is_refused(
    domains: list[tuple[str, int]], refused: str | None
) -> None:
    model = tiny_classifier()
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in domains)
    if refused is None:
        check_opset_imports(model)
    else:
        with pytest.raises(ModelLoadError, match=re.escape(refused)):
            check_opset_imports(model)


def _chain_of_functions(depth: int, calls: int, recursive: bool = False) -> onnx.ModelProto:
    """f0 calls f1 ``calls`` times, ..., the last one holds one Relu (or calls f0)."""
    model = tiny_classifier()
    for level in range(depth):
        last = level + 1 == depth
        callee = "f0" if last and recursive else None if last else f"f{level + 1}"
        nodes = ([helper.make_node(callee, ["x"], ["x"], domain="local")] * calls if callee
                 else [helper.make_node("Relu", ["x"], ["y"])])  # fmt: skip
        model.functions.append(helper.make_function("local", f"f{level}", ["x"], ["y"], nodes, []))
    model.graph.node.append(helper.make_node("f0", ["features"], ["z"], domain="local"))
    return model


@pytest.mark.parametrize(
    ("depth", "calls", "added"),
    [(1, 1, 0), (3, 2, 3), (10, 2, 2**9 - 1), (20, 2, 2**19 - 1), (3, 100, 9999)],
)
def test_functions_that_expand_within_the_cap_load(depth: int, calls: int, added: int) -> None:
    assert added <= MAX_EXPANDED_NODES
    check_function_expansion(_chain_of_functions(depth, calls))


@pytest.mark.parametrize(("depth", "calls"), [(21, 2), (64, 2), (4, 1000), (2000, 2)])
def test_a_function_expansion_bomb_is_refused_without_expanding(depth: int, calls: int) -> None:
    with pytest.raises(ModelLoadError, match="model-local functions expand to"):
        check_function_expansion(_chain_of_functions(depth, calls))


def test_recursive_functions_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="'f0' calls itself"):
        check_function_expansion(_chain_of_functions(3, 1, recursive=True))
