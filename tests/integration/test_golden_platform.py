"""The ``platform`` figure against the organizers' own ONNX route, re-run on the golden exports.

tests/fixtures/golden/platform.json holds what tools/platform_reference.py measured by running the
helper repository's converter and ptflops 0.6.8 on each fixture (weights restored as zeros):
the figure where it converts, the converter's error where it does not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest

from tests.golden_weights import restore_weights
from validator.graph.analysis import analyse
from validator.graph.platform_rules import PlatformPrediction, predict_platform
from validator.vocab import MacsConvention

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
OFFICIAL: dict[str, dict[str, Any]] = json.loads((GOLDEN / "platform.json").read_text())["models"]
TOLERANCE = 0.005  # the bar; the figures agree exactly today


def predicted(name: str) -> PlatformPrediction:
    model = restore_weights(onnx.load(str(GOLDEN / f"{name}.onnx")))
    analysis = analyse(model)
    assert not analysis.macs.uncounted
    return predict_platform(analysis.index, analysis.macs.total[MacsConvention.PLATFORM])


@pytest.mark.parametrize("name", sorted(n for n, e in OFFICIAL.items() if e["converts"]))
def test_platform_figure_matches_the_official_route(name: str) -> None:
    prediction = predicted(name)
    official = OFFICIAL[name]["macs"]
    assert prediction.converts, [b.describe() for b in prediction.blockers]
    assert prediction.macs is not None
    assert abs(prediction.macs - official) <= TOLERANCE * official, (prediction.macs, official)


@pytest.mark.parametrize("name", sorted(n for n, e in OFFICIAL.items() if not e["converts"]))
def test_models_the_converter_refuses_have_no_figure(name: str) -> None:
    prediction = predicted(name)
    assert not prediction.converts
    assert prediction.macs is None
