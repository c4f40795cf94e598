"""Constant folding: nothing above the cap is built, and int64 overflow is an error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from validator.graph.folding import EVALUATORS, _evaluate
from validator.graph.limits import AnalysisLimit, Int64Overflow
from validator.graph.shapes import TensorShape
from validator.loading.tensors import inline_array

I64 = np.int64


def _a(values: Sequence[int] | int, dtype: type = I64) -> np.ndarray:
    return np.asarray(values, dtype=dtype)


@pytest.mark.parametrize(
    ("op", "inputs"),
    [
        ("Tile", [np.ones([1], I64), _a([50_000, 50_000])]),  # reps longer than the rank
        ("Tile", [np.ones([2, 2], I64), _a([1, 5000])]),
        ("Expand", [np.ones([1], I64), _a([100_000, 100_000])]),
        ("ConstantOfShape", [_a([100_000, 100_000])]),
        ("Range", [_a(0), _a(2**62), _a(1)]),
        ("Range", [_a(0), _a(10), _a(0)]),  # never ends
        ("Gather", [np.ones([64, 64], I64), np.zeros([4096], I64)]),
        ("Concat", [np.ones([4096], I64), np.ones([4096], I64)]),
        ("Add", [np.ones([4096, 1], I64), np.ones([1, 4096], I64)]),
    ],
)
def test_folding_refuses_to_build_a_large_tensor(op: str, inputs: list[np.ndarray]) -> None:
    with pytest.raises(ValueError, match=r"too large|endless"):
        EVALUATORS[op](inputs, {"axis": 0})


@pytest.mark.parametrize(
    ("op", "a", "b"),
    [("Mul", [2**62], [4]), ("Add", [2**63 - 1], [1]), ("Sub", [-(2**63)], [1]),
     ("Mul", [-(2**62)], [3])],
)  # fmt: skip
def test_integer_overflow_is_an_error_not_a_wrapped_number(op: str, a: list, b: list) -> None:
    with pytest.raises(Int64Overflow):
        EVALUATORS[op]([_a(a), _a(b)], {})


def test_exact_integer_arithmetic_keeps_the_type() -> None:
    out = EVALUATORS["Mul"]([_a([2**31, 3]), _a([2**31, 4])], {})
    assert out.dtype == I64 and out.tolist() == [2**62, 12]
    small = EVALUATORS["Add"]([_a([120], np.int8), _a([7], np.int8)], {})
    assert small.dtype == np.int8 and small.tolist() == [127]
    with pytest.raises(Int64Overflow):
        EVALUATORS["Add"]([_a([120], np.int8), _a([8], np.int8)], {})


def test_reduce_prod_of_a_shape_that_overflows_is_an_error() -> None:
    with pytest.raises(Int64Overflow):
        EVALUATORS["ReduceProd"]([_a([2**40, 2**40])], {"keepdims": 0})


def test_overflow_while_folding_names_the_node() -> None:
    node = helper.make_node("Mul", ["a", "b"], ["c"], name="wrap")
    values = {"a": _a([2**62]), "b": _a([4])}
    with pytest.raises(AnalysisLimit, match="overflows int64 at Mul node 'wrap'"):
        _evaluate(node, values, {})


def test_size_of_an_uncountable_tensor_is_an_error() -> None:
    node = helper.make_node("Size", ["x"], ["n"])
    shapes = {"x": TensorShape(onnx.TensorProto.FLOAT, (2**40, 2**40))}
    with pytest.raises(AnalysisLimit, match="int64"):
        _evaluate(node, {}, shapes)


def test_external_values_are_never_read_relative_to_the_working_directory() -> None:
    tensor = numpy_helper.from_array(np.ones(1, np.float32), "w")
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="w.bin")
    with pytest.raises(ValueError, match="external file"):
        inline_array(tensor)
    node = helper.make_node("Constant", [], ["c"], value=tensor)
    assert _evaluate(node, {}, {}) is None
