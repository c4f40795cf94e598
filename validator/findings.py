"""Findings (what one check decided) and the Report that collects them.

A check yields immutable :class:`Finding` objects; the :class:`Report` gathers them together with
the measurements and the optional score, and decides the verdict. Reporters only read a Report.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from validator.text import safe_data, safe_text


class Severity(str, enum.Enum):
    """How much a failed check matters: ``error`` fails the verdict, ``warning`` does not."""

    ERROR = "error"
    WARNING = "warning"


class Status(str, enum.Enum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"  # the check itself could not be evaluated


class Verdict(str, enum.Enum):
    """Overall decision on a model."""

    PASS = "pass"
    FAIL = "fail"


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Finding:
    """The immutable result of one check on one model.

    ``measured`` and ``limit`` are plain numbers (or None) in the unit the message states;
    ``details`` holds evidence such as node names or per-op breakdowns (JSON-serialisable).
    """

    id: str
    status: Status
    severity: Severity
    message: str
    measured: float | int | str | None = None
    limit: float | int | str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Messages and evidence quote names from the model and paths from the disk: escaped
        # here once, they are safe in every reporter (terminal, JSON, error lines).
        object.__setattr__(self, "message", safe_text(self.message))
        for name in ("measured", "limit"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)):
                object.__setattr__(self, name, safe_text(value))
        object.__setattr__(self, "details", _frozen(safe_data(dict(self.details or {}))))

    @property
    def blocks(self) -> bool:
        """True when this finding makes the verdict fail."""
        if self.severity is not Severity.ERROR:
            return False
        return self.status in (Status.FAIL, Status.ERROR)

    @property
    def is_warning(self) -> bool:
        """True for a non-blocking problem (a warn status, or a failed warning-severity check)."""
        return not self.blocks and self.status in (Status.WARN, Status.FAIL, Status.ERROR)


@dataclass
class Report:
    """Everything robust-validate decided about one model (schema in REPORT.md).

    ``model`` and ``profile`` are plain dicts ready for JSON; ``measurements`` holds figures that
    are not a pass/fail decision (params, macs per convention, opset, io, ensemble evidence);
    ``score`` is None when scoring did not run.
    """

    model: dict[str, Any]
    profile: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)
    score: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    isolation: dict[str, Any] = field(default_factory=dict)  # limits, threads, breaches

    def add(self, finding: Finding) -> None:
        """Append one finding (a later finding with the same id replaces the earlier one)."""
        self.findings = [f for f in self.findings if f.id != finding.id]
        self.findings.append(finding)

    def get(self, check_id: str) -> Finding | None:
        """The finding of ``check_id``, or None when that check did not run."""
        return next((f for f in self.findings if f.id == check_id), None)

    @property
    def verdict(self) -> Verdict:
        """``fail`` when any error-severity check failed, else ``pass``."""
        return Verdict.FAIL if any(f.blocks for f in self.findings) else Verdict.PASS

    @property
    def warnings(self) -> list[Finding]:
        """Findings that do not fail the verdict but deserve attention."""
        return [f for f in self.findings if f.is_warning]
