from __future__ import annotations

import dataclasses

import pytest

from validator.findings import Finding, Report, Severity, Status, Verdict

E, W = Severity.ERROR, Severity.WARNING


@pytest.mark.parametrize(
    ("findings", "verdict", "warnings"),
    [
        ([(Status.PASS, E), (Status.PASS, W)], Verdict.PASS, 0),
        ([(Status.FAIL, E)], Verdict.FAIL, 0),
        ([(Status.ERROR, E)], Verdict.FAIL, 0),  # a check that could not run never passes
        ([(Status.WARN, W), (Status.PASS, E)], Verdict.PASS, 1),
        ([(Status.FAIL, W)], Verdict.PASS, 1),
        ([(Status.SKIP, E)], Verdict.PASS, 0),
    ],
)
def test_verdict_follows_severity(
    findings: list[tuple[Status, Severity]], verdict: Verdict, warnings: int
) -> None:
    report = Report(model={}, profile={})
    for i, (status, severity) in enumerate(findings):
        report.add(Finding(f"c{i}", status, severity, "m"))
    assert report.verdict is verdict
    assert len(report.warnings) == warnings


def test_findings_are_immutable() -> None:
    finding = Finding("flops", Status.PASS, E, "ok", details={"a": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.status = Status.FAIL  # type: ignore[misc]
    with pytest.raises(TypeError):
        finding.details["a"] = 2  # type: ignore[index]


def test_a_later_finding_replaces_the_same_id() -> None:
    report = Report(model={}, profile={})
    report.add(Finding("flops", Status.FAIL, E, "first"))
    report.add(Finding("flops", Status.PASS, E, "second"))
    assert [f.message for f in report.findings] == ["second"]
    assert report.get("flops") is not None and report.get("nope") is None
