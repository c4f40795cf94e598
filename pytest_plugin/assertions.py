"""Assertion helpers for hand-written tests over a :class:`validator.Report`.

Each helper hides itself from the traceback (``__tracebackhide__``), so a failure points at the
caller's line and reads as the measured value, the limit and the evidence::

    from pytest_plugin import assert_check_passes

    def test_budget(robust_report):
        assert_check_passes(robust_report, "flops")
"""

from __future__ import annotations

import warnings

from pytest_plugin.items import check_ids
from pytest_plugin.outcomes import RobustCheckWarning
from pytest_plugin.render import describe_finding, describe_score, score_value
from pytest_plugin.settings import ScoreKind
from validator.errors import UsageError
from validator.findings import Finding, Report, Status
from validator.registry import unknown_name_message


def assert_check_passes(report: Report, check_id: str, *, strict: bool = False) -> Finding:
    """Fail unless ``check_id`` passed; a warning passes (with a RobustCheckWarning) unless
    ``strict``. Returns the finding."""
    __tracebackhide__ = True
    finding = _finding(report, check_id)
    if finding.status is Status.PASS:
        return finding
    if finding.is_warning and not strict:
        warnings.warn(
            f"{_model(report)}: {finding.id}: {finding.message}", RobustCheckWarning, stacklevel=2
        )
        return finding
    raise AssertionError(
        f"{_model(report)}: expected {check_id} to pass\n" + describe_finding(finding)
    )


def assert_check_fails(report: Report, check_id: str) -> Finding:
    """Fail unless ``check_id`` failed (for models that must be rejected). Returns the finding."""
    __tracebackhide__ = True
    finding = _finding(report, check_id)
    if finding.status is not Status.FAIL:
        raise AssertionError(
            f"{_model(report)}: expected {check_id} to fail\n" + describe_finding(finding)
        )
    return finding


def assert_report_passes(report: Report, *, strict: bool = False) -> None:
    """Fail unless the verdict is pass (and, if ``strict``, nothing warned), listing every
    finding that stands in the way."""
    __tracebackhide__ = True
    against = [f for f in report.findings if f.blocks or (strict and f.is_warning)]
    if against:
        listing = "\n".join(describe_finding(f) for f in against)
        raise AssertionError(f"{_model(report)}: {len(against)} check(s) fail\n{listing}")


def assert_score_at_least(
    report: Report, minimum: float, kind: ScoreKind | str = ScoreKind.FINAL
) -> float:
    """Fail unless the ``kind`` score (final, clean or attacked accuracy) is at least
    ``minimum``; the report must have been scored. Returns the score."""
    __tracebackhide__ = True
    which = ScoreKind(kind)
    value = score_value(report, which)
    if value is None or value < minimum:
        raise AssertionError(f"{_model(report)}: " + describe_score(report, which, minimum))
    return value


def _finding(report: Report, check_id: str) -> Finding:
    __tracebackhide__ = True
    finding = report.get(check_id)
    if finding is not None:
        return finding
    known = check_ids()
    if check_id not in known:
        raise UsageError(unknown_name_message("check", check_id, known))
    ran = ", ".join(f.id for f in report.findings)
    raise AssertionError(f"{_model(report)}: {check_id} did not run (ran: {ran})")


def _model(report: Report) -> str:
    return str(report.model.get("path", "model"))
