"""What the score-based searches share: in-place compaction of the live images and the
encoding of edited windows."""

from __future__ import annotations

import numpy as np
import pytest

from validator.attacks.model_fn import to_input
from validator.attacks.search import compact, encode_last, window_index
from validator.vocab import ChannelOrder


@pytest.mark.parametrize(
    "keep",
    [
        [True, True, True, True],
        [False, True, True, True],
        [True, False, True, False],
        [True, True, True, False],
        [False, False, False, False],
    ],
)
def test_compact_keeps_the_rows_in_order_inside_the_same_buffer(keep: list[bool]) -> None:
    array = np.arange(4 * 3, dtype=np.float32).reshape(4, 3)
    expected = array[np.array(keep)]
    kept = compact(array, np.array(keep))
    assert np.array_equal(kept, expected)
    assert np.shares_memory(kept, array) or not len(kept)
    assert kept.flags.c_contiguous


@pytest.mark.parametrize("order", list(ChannelOrder))
def test_a_window_encodes_as_the_whole_image_does(order: ChannelOrder) -> None:
    rng = np.random.default_rng(0)
    levels = np.rint(rng.random((3, 3, 8, 8)) * 255).astype(np.float32)
    window = window_index(np.array([0, 2, 5]), np.array([1, 4, 0]), 3)
    assert np.array_equal(encode_last(levels[window], order), to_input(levels, order)[window])
