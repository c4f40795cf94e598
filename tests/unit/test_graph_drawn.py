"""Shapes drawn at run time: the masked variants that resize, pad or crop by a RandomUniform
amount are counted at the largest size the draw can reach, statically (no run), with a note
naming the random operators; the expectation is the plain model's count plus the resize."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from tests.unit.masked_variants import (
    ARGMAX_ENCODINGS,
    ARGMAX_UNCOVERED,
    VARIANTS,
    masked_variant,
)
from tests.unit.test_attacks_models import SIZE, linear_model, save
from validator import validate
from validator.findings import Finding, Status
from validator.graph.analysis import analyse
from validator.graph.drawn import NOTE, largest_draw
from validator.vocab import MacsConvention

FULL = MacsConvention.FULL
# variant -> (tensor sized by the draws, its largest shape, random operators named in the note)
DRAWN = {
    "resize-pad": ("small", (1, 3, SIZE, SIZE), ("side_u", "top_u", "left_u")),
    "crop": ("cropped", (1, 3, 12, 12), ("top_u", "left_u")),
}


def _never_run(inputs: object, wanted: object) -> dict[str, object]:
    raise AssertionError(f"the model was run to measure {wanted}")


@pytest.mark.parametrize("kind", sorted(DRAWN))
def test_random_shapes_fold_to_the_largest_draw_without_a_run(kind: str) -> None:
    tensor, largest, ops = DRAWN[kind]
    analysis = analyse(masked_variant(kind), size=SIZE, probe=_never_run)  # type: ignore[arg-type]
    plain = analyse(linear_model(), size=SIZE).macs.total[FULL]
    assert analysis.shapes[tensor].dims == largest
    assert analysis.macs.uncounted == []
    assert analysis.macs.total[FULL] >= plain
    note = next(n for n in analysis.macs.notes if n.startswith(NOTE))
    assert all(f"RandomUniform {op!r}" in note for op in ops)


def _flops(path: Path) -> Finding:
    finding = validate(path, "final", select=["flops"]).get("flops")
    assert finding is not None
    return finding


@pytest.mark.parametrize("kind", sorted(DRAWN))
def test_flops_passes_for_random_resize_pad_and_crop(kind: str, tmp_path: Path) -> None:
    plain = _flops(save(linear_model(), tmp_path, "plain"))
    finding = _flops(save(masked_variant(kind), tmp_path, kind))
    assert finding.status is Status.PASS, finding.message
    assert isinstance(finding.measured, int) and isinstance(plain.measured, int)
    assert finding.measured >= plain.measured > 0
    assert NOTE in finding.message
    assert all(f"RandomUniform {op!r}" in finding.message for op in DRAWN[kind][2])
    assert "not counted" not in finding.message


@pytest.mark.parametrize(
    ("op", "attrs", "span", "reachable"),
    [
        ("RandomUniform", {"shape": [1], "low": 0.0, "high": 1.0}, 5.0, 4),  # never 5
        ("RandomUniform", {"shape": [2], "low": 2.0, "high": 3.0}, 1.0, 2),
        ("RandomUniform", {"shape": [1], "low": 1.0, "high": 1.0}, 4.0, 4),  # a fixed value
        ("RandomUniform", {"shape": [1], "low": 0.0, "high": 0.999}, 5.0, 4),
    ],
)
def test_largest_draw_stays_below_high(
    op: str, attrs: dict[str, object], span: float, reachable: int
) -> None:
    node = helper.make_node(op, [], ["u"], **attrs)  # type: ignore[arg-type]
    value = largest_draw(node, attrs, {})
    assert value is not None and value.shape == tuple(attrs["shape"])  # type: ignore[arg-type]
    assert value.dtype == np.float32
    assert np.all(np.floor(value * span) == reachable)


def test_unbounded_or_huge_draws_are_not_folded() -> None:
    normal = helper.make_node("RandomNormal", [], ["n"], shape=[1])
    huge = helper.make_node("RandomUniform", [], ["u"], shape=[1, 3, 224, 224])
    assert largest_draw(normal, {"shape": [1]}, {}) is None
    assert largest_draw(huge, {"shape": [1, 3, 224, 224]}, {}) is None
    wraps = [2**32, 2**32]  # a product that wraps to 0 in int64
    assert largest_draw(huge, {"shape": wraps}, {}) is None
    assert largest_draw(huge, {"shape": [-1, 4]}, {}) is None


@pytest.mark.parametrize(
    "kind", [*VARIANTS, *(f"argmax-{e}" for e in ARGMAX_ENCODINGS), f"argmax-{ARGMAX_UNCOVERED}"]
)
def test_no_masked_variant_fails_flops_for_an_unknown_shape(kind: str, tmp_path: Path) -> None:
    finding = _flops(save(masked_variant(kind), tmp_path, kind))
    assert finding.status is Status.PASS, finding.message
    assert "not counted" not in finding.message and "unknown" not in finding.message
