"""The JSON reporter: REPORT.md's versioned contract (add fields freely; renaming or removing
one means bumping SCHEMA_VERSION)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from validator.findings import Finding, Report, Severity, Status
from validator.text import safe_text

SCHEMA_VERSION = 1
TOOL_NAME = "robust-validate"


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One entry of the ``checks`` array."""
    return {
        "id": finding.id,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "measured": finding.measured,
        "limit": finding.limit,
        "details": _plain(finding.details),
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The whole report as plain JSON-ready data."""
    from validator import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "model": _plain(report.model),
        "profile": _plain(report.profile),
        "verdict": report.verdict.value,
        "checks": [finding_to_dict(f) for f in report.findings],
        "measurements": _plain(report.measurements),
        "score": _plain(report.score) if report.score is not None else None,
        "notes": _plain(list(report.notes)),
        "isolation": _plain(report.isolation),
    }


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """The inverse of finding_to_dict (reports cross process boundaries as JSON)."""
    return Finding(
        str(data["id"]),
        Status(data["status"]),
        Severity(data["severity"]),
        str(data["message"]),
        data.get("measured"),
        data.get("limit"),
        dict(data.get("details") or {}),
    )


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """The Report that report_to_dict wrote (the verdict is recomputed from the checks)."""
    return Report(
        model=dict(data["model"]),
        profile=dict(data["profile"]),
        findings=[finding_from_dict(f) for f in data["checks"]],
        measurements=dict(data.get("measurements") or {}),
        score=data.get("score"),
        notes=list(data.get("notes") or []),
        isolation=dict(data.get("isolation") or {}),
    )


def report_to_json(report: Report) -> str:
    """The report as indented UTF-8 JSON text (ends with a newline)."""
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"


def _plain(value: Any) -> Any:
    """Mappings, enums and numpy scalars to JSON-native types."""
    if isinstance(value, (str, bytes)):
        return safe_text(value)  # paths and names: escaped, and never a surrogate or bytes
    if isinstance(value, Mapping):
        return {safe_text(getattr(k, "value", k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):
        return value.value
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
