"""The arrays the module's child and the scoring process exchange: float32 bytes in base64 with
their shape, refused (ValueError) unless well formed."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from validator.submission.module_server import decode, encode


@pytest.mark.parametrize("shape", [(2, 100), (1, 3, 4, 4), (0, 10)])
def test_round_trip(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    back = decode(encode(array), shape)
    assert back.dtype == np.float32 and np.array_equal(back, array)


def _fields(shape: list[int], data: bytes) -> dict[str, Any]:
    return {"shape": shape, "data": base64.b64encode(data).decode("ascii")}


BAD = [
    (_fields([2, 3], bytes(20)), None, "do not hold"),  # 20 bytes, 24 expected
    (_fields([2, 3], bytes(24)), (3, 2), "expected"),  # the wrong shape
    ({"shape": [1], "data": "not base64!"}, None, ""),  # binascii.Error is a ValueError
    (_fields([-1], bytes(4)), None, "do not hold"),
]


@pytest.mark.parametrize(("fields", "shape", "words"), BAD)
def test_malformed_arrays_are_refused(
    fields: dict[str, Any], shape: tuple[int, ...] | None, words: str
) -> None:
    with pytest.raises(ValueError, match=words or None):
        decode(fields, shape)
