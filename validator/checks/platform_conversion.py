"""The ``platform-conversion`` rule: would the organizers' ONNX route accept this file?

On the ONNX route the platform converts the file back to PyTorch with its own converter and runs
its checker (ptflops 0.6.8) on the result. A file it cannot convert can be neither counted nor
attacked white-box by the platform, so this warns, naming each blocking op or construct.
"""

from __future__ import annotations

from typing import Any

from validator.checks.context import Context
from validator.checks.registry import Stage, register
from validator.findings import Finding
from validator.graph.platform_rules import PlatformPrediction
from validator.units import si
from validator.vocab import CheckId, MacsConvention


@register(CheckId.PLATFORM_CONVERSION, "the organizers' converter can convert it", Stage.STATIC)
def check_platform_conversion(ctx: Context) -> Finding:
    prediction = ctx.platform
    details = _details(prediction)
    if not prediction.blockers:
        message = (
            f"the organizers' converter converts it; their checker would count "
            f"{si(prediction.module_macs)} multiply-adds (platform convention)"
        )
        return ctx.verdict(CheckId.PLATFORM_CONVERSION, True, message, details=details)
    where = "converter" if not prediction.converts else "official checker"
    message = f"the {where} would stop: " + "; ".join(b.describe() for b in prediction.blockers)
    return ctx.verdict(CheckId.PLATFORM_CONVERSION, False, message, details=details)


def _details(prediction: PlatformPrediction) -> dict[str, Any]:
    return {
        "converts": prediction.converts,
        "macs_platform": prediction.macs,
        "blockers": [
            {"construct": b.construct, "nodes": list(b.nodes[:50]), "fix": b.fix, "stage": b.stage}
            for b in prediction.blockers
        ],
    }


def platform_note(ctx: Context) -> str:
    """The platform figure in words, for the ``flops`` message."""
    prediction = ctx.platform
    if prediction.macs is None:
        return "platform (ONNX route) figure: none, the organizers' converter cannot convert it"
    return f"platform (ONNX route) figure {si(prediction.macs)}"


def macs_measurement(ctx: Context) -> dict[str, int | None]:
    """``measurements.macs``: every convention, ``platform`` null when the file won't convert."""
    totals: dict[str, int | None] = {c.value: ctx.analysis.macs.total[c] for c in MacsConvention}
    totals[MacsConvention.PLATFORM.value] = ctx.platform.macs
    return totals
