"""The generated tests: ``robust::<model>`` holds one test per check and one per threshold.

A check that fails (severity error) fails its test with the check's message, measured value,
limit and evidence; a check that only warns passes with a :class:`RobustCheckWarning` (fails under
strict mode); a skipped check is a skipped test with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_plugin.outcomes import EvaluationError, RobustCheckWarning, RuleBroken, judge
from pytest_plugin.render import (
    describe_score,
    finding_properties,
    score_properties,
    score_value,
)
from pytest_plugin.reports import Plan, session_reports
from pytest_plugin.settings import MARKER, ScoreKind, Settings, model_label, session_settings
from validator.checks import Stage
from validator.findings import Report, Status
from validator.pipeline import ordered_checks
from validator.vocab import CheckId


def check_ids() -> list[str]:
    """Every check the pipeline runs, in report order (``load`` first)."""
    return [CheckId.LOAD.value, *(spec.id.value for spec in ordered_checks())]


def collect_model(session: pytest.Session, model: Path) -> list[pytest.Item]:
    """Collect ``robust::<model>`` as pytest collects a file (reports, hooks, error handling)."""
    label = model_label(session.config, model)
    group = ModelGroup.from_parent(session, name=label, path=model, nodeid=f"robust::{label}")
    return list(session.genitems(group))


class ModelGroup(pytest.Collector):
    """``robust::<model>``: the tests of one model; a missing file is a collection error."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(MARKER)

    def collect(self) -> Iterator[pytest.Item]:
        if not self.path.exists():
            raise self.CollectError(
                f"robust_model: no such file: {self.path} (command-line paths are relative to "
                "the current directory, ini paths to the configuration file's directory)"
            )
        for check_id in check_ids():
            yield CheckItem.from_parent(self, name=check_id)
        for kind, minimum in session_settings(self.config).thresholds.items():
            yield ThresholdItem.from_parent(
                self, name=f"score-{kind.value}", kind=kind, minimum=minimum
            )


class _ModelItem(pytest.Item):
    """Shared by the generated tests: the cached report, and failures shown as plain text."""

    def report(self) -> Report:
        return session_reports(self.config).configured(self.path)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (RuleBroken, EvaluationError, RobustCheckWarning)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        # Line 0 lets pytest place skips at the model file; a headline that is not a suffix of
        # the node id keeps pytest from reading the model's "." as a Python attribute path.
        label = self.parent.name if self.parent is not None else self.path.name
        return self.path, 0, f"{label}: {self.name}"


class CheckItem(_ModelItem):
    """``robust::<model>::<check id>``: the outcome of one rule."""

    def mark_if_skipped(self) -> None:
        """Turn a check the library skipped into a skip marker before setup, so pytest reports
        the skip at the model rather than inside the plugin."""
        try:
            finding = self.report().get(self.name)
        except EvaluationError:
            return  # runtest fails with the message
        if finding is not None:
            self.user_properties[:] = finding_properties(finding)  # JUnit XML, whatever the outcome
        if finding is None or finding.status is Status.SKIP:
            reason = finding.message if finding else f"{self.name} did not run"
            self.add_marker(pytest.mark.skip(reason=reason.removeprefix("skipped: ")))

    def runtest(self) -> None:
        finding = self.report().get(self.name)
        if finding is None:
            pytest.skip(f"{self.name} did not run")
        self.user_properties[:] = finding_properties(finding)
        judge(finding, self.nodeid, strict=session_settings(self.config).strict)


class ThresholdItem(_ModelItem):
    """``robust::<model>::score-<kind>``: the score must reach the configured minimum."""

    def __init__(self, *, kind: ScoreKind, minimum: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind, self.minimum = kind, minimum

    def runtest(self) -> None:
        report = self.report()
        self.user_properties[:] = score_properties(report, self.kind, self.minimum)
        value = score_value(report, self.kind)
        if value is None or value < self.minimum:
            raise RuleBroken(describe_score(report, self.kind, self.minimum))


def plan_runs(items: Iterable[pytest.Item], settings: Settings) -> dict[Path, Plan]:
    """Per configured model, the checks and scoring that the selected ``items`` need.

    Static checks are independent of each other, so a selection of static checks runs just
    those; a runtime check, a threshold or a ``robust_report`` user needs everything (runtime
    checks and scoring are gated on the interface checks)."""
    runtime = {spec.id.value for spec in ordered_checks() if spec.stage is Stage.RUNTIME}
    chosen: dict[Path, set[str]] = {model: set() for model in settings.models}
    everything: set[Path] = set()
    scored: set[Path] = set()
    for item in items:
        if "robust_report" in getattr(item, "fixturenames", ()):
            everything.update(settings.models)
            scored.update(settings.models)
        elif isinstance(item, ThresholdItem):
            everything.add(item.path)
            scored.add(item.path)
        elif isinstance(item, CheckItem):
            chosen[item.path].add(item.name)
            if item.name in runtime:
                everything.add(item.path)
    return {
        model: Plan(
            select=None if model in everything else frozenset(chosen[model]),
            score=settings.scoring and model in scored,
        )
        for model in settings.models
    }
