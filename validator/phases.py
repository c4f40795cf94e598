"""What the child process does for one model, phase by phase: load, static checks and
measurements (analysis), runtime checks (runtime), scoring (scoring).

Runs only inside a child forked by validator.sandbox. It works on its own copy of the Report
(inherited through the fork) and publishes it after every check, so the parent holds everything
finished so far whenever a limit stops the child. A child restarted after a breach starts at the
phase it is told, skips the checks the Report already holds, and refuses the evidence marked
unavailable.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validator.checks import CHECKS, Stage, check_load
from validator.checks.compat import default_opset
from validator.checks.context import Context, Unavailable
from validator.checks.ensemble import ensemble_measurement
from validator.checks.interface import describe
from validator.checks.platform_conversion import macs_measurement
from validator.checks.registry import CheckSpec
from validator.config import Profile
from validator.errors import ValidatorError
from validator.findings import Finding, Report, Status
from validator.graph.breakdown import breakdown
from validator.graph.limits import AnalysisLimit
from validator.reporting import report_to_dict
from validator.sandbox import Limits, PhaseClock, Sender
from validator.scoring.options import ScoreOptions
from validator.vocab import CheckId, Device, Phase

if TYPE_CHECKING:
    from validator.scoring.evaluation import ScoreTarget

ORDER = (Phase.ANALYSIS, Phase.RUNTIME, Phase.SCORING)
STAGE_PHASE = {Stage.STATIC: Phase.ANALYSIS, Stage.RUNTIME: Phase.RUNTIME}


@dataclass(frozen=True)
class Job:
    """Everything one validation needs, decided in the parent before any child starts."""

    path: Path
    profile: Profile
    wanted: frozenset[str]
    limits: Limits
    options: ScoreOptions | None = None
    target: ScoreTarget | None = None
    device: Device = Device.CPU


def ordered_checks() -> list[CheckSpec]:
    """Registered checks, static before runtime, in REPORT.md's order within a stage."""
    stages, ids = list(Stage), list(CheckId)
    return sorted(CHECKS, key=lambda s: (stages.index(s.stage), ids.index(s.id)))


class ChildRun:
    """One child's work: the phases from ``start`` on, publishing as it goes."""

    def __init__(
        self, job: Job, report: Report, sender: Sender, unavailable: Mapping[str, str]
    ) -> None:
        self.job, self.report, self.sender = job, report, sender
        self.unavailable = unavailable
        self.clock = PhaseClock(sender)

    def run(self, start: Phase, progress: Any = None) -> None:
        """Load the model, then run the phases from ``start`` on."""
        self.clock.enter(Phase.ANALYSIS)
        ctx = self._load()
        if ctx is not None:
            for phase in ORDER[ORDER.index(start) :]:
                self._phase(phase, ctx, progress)
        self.publish()

    def publish(self) -> None:
        """Send the whole Report as it stands."""
        self.sender.send("report", report=report_to_dict(self.report))

    def _load(self) -> Context | None:
        finding, model = check_load(self.job.path, self.job.profile)
        if self.report.get(CheckId.LOAD.value) is None:
            self.report.add(finding)
        if model is None:
            for spec in ordered_checks():
                if spec.id.value in self.job.wanted and self.report.get(spec.id.value) is None:
                    self.report.add(skipped(spec.id, self.job.profile, "the model did not load"))
            return None
        self.report.model.update(
            file_bytes=model.file_bytes, external_data_bytes=model.external_data_bytes
        )
        observe = self._observe
        return Context(
            model, self.job.profile, self.job.limits.threads,
            unavailable=self.unavailable, observe=observe, device=self.job.device,
        )  # fmt: skip

    def _observe(self, name: str, started: bool) -> None:
        self.sender.send("evidence", name=name, started=started)

    def _phase(self, phase: Phase, ctx: Context, progress: Any) -> None:
        if phase is Phase.SCORING:
            if self.job.options is not None and self.job.target is not None:
                from validator.scoring.evaluation import (
                    add_score,  # only a scoring run loads scoring
                )

                self.clock.enter(phase)
                add_score(self.report, ctx, self.job.options, self.job.target, progress)
            return
        self.clock.enter(phase)
        for spec in ordered_checks():
            if pending(spec, phase, self.job, self.report):
                self.sender.send("check", id=spec.id.value)
                self.report.add(run_one(spec, ctx, self.report))
                self.publish()
        if phase is Phase.ANALYSIS or not self.report.measurements:
            self.report.measurements = measurements(ctx, self.report)
            self.report.model["sha256"] = ctx.model.sha256
            self.publish()


def pending(spec: CheckSpec, phase: Phase, job: Job, report: Report) -> bool:
    """True when ``spec`` belongs to ``phase``, was asked for, and has no finding yet."""
    return (
        STAGE_PHASE[spec.stage] is phase
        and spec.id.value in job.wanted
        and report.get(spec.id.value) is None
    )


def skipped(check: CheckId, profile: Profile, reason: str) -> Finding:
    """A skipped finding with ``reason``."""
    return Finding(check.value, Status.SKIP, profile.severity_of(check), f"skipped: {reason}")


def run_one(spec: CheckSpec, ctx: Context, report: Report) -> Finding:
    """Run one check; evidence lost to an earlier breach fails it with that breach's reason."""
    if spec.stage is Stage.RUNTIME:
        gate = report.get(CheckId.INPUT.value)
        if gate is not None and gate.status not in (Status.PASS, Status.WARN):
            reason = "the input is not N x 3 x S x S float32, so images cannot be fed"
            return skipped(spec.id, ctx.profile, reason)
    try:
        result: Finding = spec.run(ctx)
        return result
    except Unavailable as exc:
        return ctx.verdict(spec.id, False, f"not evaluated: {exc.reason}")
    except AnalysisLimit as exc:  # the model asked the analysis for too much: say what
        return ctx.finding(spec.id, Status.ERROR, f"static analysis refused: {exc.reason}")
    except MemoryError:
        raise  # a breach of the memory limit: the parent pins it on this check
    except ValidatorError:
        raise  # cannot evaluate at all (e.g. --device cuda without a usable GPU): exit 2
    except Exception as exc:  # a bug or an unforeseen model must not become a traceback
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"internal error while checking: {type(exc).__name__}: {exc} ({where.name})"
        return ctx.finding(spec.id, Status.ERROR, message[:400])


def measurements(ctx: Context, report: Report) -> dict[str, Any]:
    """REPORT.md's ``measurements`` (empty when the graph could not be analysed)."""
    try:
        analysis = ctx.analysis
    except MemoryError:
        raise
    except Exception:
        return {}
    index = analysis.index
    ensemble = report.get(CheckId.ENSEMBLE.value)
    return {
        "params": analysis.params.total,
        "macs": macs_measurement(ctx),
        "macs_unit": "multiply-accumulates per 3x224x224 image at batch 1",
        "opset": default_opset(ctx),
        "input": describe(index.inputs[0]) if len(index.inputs) == 1 else None,
        "output": describe(index.graph.output[0]) if len(index.graph.output) == 1 else None,
        "nodes": len(index.graph.node),
        "breakdown": breakdown(analysis, ctx.profile.macs_convention),
        "ensemble": ensemble_measurement(ctx)
        if ensemble and ensemble.status is not Status.SKIP
        else None,
    }
