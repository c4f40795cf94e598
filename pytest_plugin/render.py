"""Plain-text failure messages for findings and scores: what was measured, the limit, the
evidence. Shared by the generated tests and the assertion helpers so both read the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_plugin.settings import ScoreKind
from validator.findings import Finding, Report

_MAX_VALUE = 240  # characters of one evidence value; the JSON report has the rest
_MAX_ITEMS = 8  # list elements shown before "(+N more)"
_NOT_SCORED = (
    "the report was not scored: set a robust_min_* threshold, or call "
    "robust_validate(path, score=True)"
)


def describe_finding(finding: Finding) -> str:
    """``<id> <status> (<severity>): <message>`` then measured, limit and evidence lines."""
    lines = [
        f"{finding.id} {finding.status.value} (severity {finding.severity.value}): "
        f"{finding.message}"
    ]
    if finding.measured is not None:
        lines.append(f"  measured: {_value(finding.measured)}")
    if finding.limit is not None:
        lines.append(f"  limit:    {_value(finding.limit)}")
    if finding.details:
        lines.append("  evidence:")
        lines += [f"    {key}: {_value(value)}" for key, value in finding.details.items()]
    return "\n".join(lines)


def finding_properties(finding: Finding) -> list[tuple[str, str]]:
    """JUnit XML properties of one check: id, status, severity, measured value, limit (raw, ""
    when the check has none), message, and for a warning the warning text as raised."""
    properties = [
        ("check", finding.id),
        ("status", finding.status.value),
        ("severity", finding.severity.value),
        ("measured", _raw(finding.measured)),
        ("limit", _raw(finding.limit)),
        ("message", finding.message),
    ]
    if finding.is_warning:
        properties.append(("warning", f"RobustCheckWarning: {finding.message}"))
    return properties


def score_properties(report: Report, kind: ScoreKind, minimum: float) -> list[tuple[str, str]]:
    """JUnit XML properties of one score threshold, in the same vocabulary as a check's."""
    value = score_value(report, kind)
    return [
        ("check", f"score-{kind.value}"),
        ("status", "pass" if value is not None and value >= minimum else "fail"),
        ("severity", "error"),
        ("measured", _raw(value)),
        ("limit", _raw(minimum)),
        ("message", describe_score(report, kind, minimum).splitlines()[0]),
    ]


def _raw(value: object) -> str:
    return "" if value is None else str(value)


def score_value(report: Report, kind: ScoreKind) -> float | None:
    """``score.final``, ``score.f1`` or ``score.<kind>.accuracy`` of the report; None when not
    scored (or, for f1, when the profile is not a Track 2 one)."""
    score = report.score
    if not score:
        return None
    if kind in (ScoreKind.FINAL, ScoreKind.F1):
        value = score.get(kind.value)
    else:
        value = (score.get(kind.value) or {}).get("accuracy")
    return float(value) if value is not None else None


def describe_score(report: Report, kind: ScoreKind, minimum: float) -> str:
    """Why ``kind`` is below ``minimum`` (or missing), with the set sizes behind the figure."""
    value = score_value(report, kind)
    if value is None:
        why = report.notes or _blocking(report) or [_NOT_SCORED]
        head = f"score-{kind.value}: no {kind.value} score to compare with {minimum:g}"
        return "\n".join([head, *(f"  {line}" for line in why)])
    lines = [
        f"score-{kind.value}: {value:.4f} < required {minimum:.4f} (short by {minimum - value:.4f})"
    ]
    score = report.score or {}
    for name in (ScoreKind.CLEAN.value, ScoreKind.ATTACKED.value):
        part = score.get(name)
        if isinstance(part, Mapping) and part.get("accuracy") is not None:
            lines.append(
                f"  {name}: accuracy {part['accuracy']:.4f} on "
                f"{part.get('correct')}/{part.get('images')} images{_interval(part)}"
            )
    if "dataset" in score:
        lines.append(f"  dataset: {score['dataset']}")
    return "\n".join(lines)


def _interval(part: Mapping[str, Any]) -> str:
    bounds = part.get("interval")
    return f" (95% interval {bounds[0]:.3f}-{bounds[1]:.3f})" if bounds else ""


def _blocking(report: Report) -> list[str]:
    return [f"{f.id}: {f.message}" for f in report.findings if f.blocks]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > _MAX_ITEMS:
        shown = ", ".join(_value(v) for v in value[:_MAX_ITEMS])
        return f"[{shown}, ... (+{len(value) - _MAX_ITEMS} more)]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 4] + " ..."
