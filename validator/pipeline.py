"""The one pipeline: decide the job in the parent, run it in an isolated child, gather the
Report.

Everything that interprets the model (loading, analysis, onnxruntime, scoring, attacks on the
fly) runs in a child process under the profile's limits (validator.sandbox). The child publishes
the Report after every check; when a limit stops it, the check it was running fails with a line
naming the limit, the evidence it was computing is marked unavailable, and a fresh child goes on
with the rest, so a report always comes out. Only errors that mean "cannot evaluate at all"
(unknown profile, unreadable dataset, bad options) escape, as ValidatorError.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validator.checks import CHECKS
from validator.config import Profile, load_profile
from validator.errors import UsageError
from validator.findings import Finding, Report, Severity, Status
from validator.phases import ORDER, ChildRun, Job, ordered_checks, pending, skipped
from validator.registry import unknown_name_message
from validator.reporting import report_from_dict
from validator.sandbox import Limits, Outcome, Sender, run_isolated
from validator.sandbox.progress import RemoteProgress, forward_progress
from validator.scoring.options import Progress, ScoreOptions
from validator.vocab import Breach, CheckId, Device, Phase

if TYPE_CHECKING:
    from validator.scoring.evaluation import ScoreTarget

__all__ = ["Progress", "ScoreOptions", "ordered_checks", "resolve_profile", "validate"]

DEVICE_NOTE = (
    "run on a GPU (onnxruntime's CUDA execution provider): outputs differ from a CPU run in "
    "the last digits, so an accuracy, above all under attack, can differ slightly too"
)
MAX_RESTARTS = 8  # each restart follows a breach pinned on new evidence; this bounds the rest


def resolve_profile(profile: Profile | str | Path) -> Profile:
    """A Profile from a Profile, a built-in name, or a TOML path."""
    return profile if isinstance(profile, Profile) else load_profile(profile)


def validate(
    model_path: str | Path,
    profile: Profile | str | Path = "final",
    *,
    select: Iterable[str] | None = None,
    threads: int | None = None,
    score: bool | ScoreOptions = False,
    progress: Progress | None = None,
    device: Device | str = Device.CPU,
) -> Report:
    """Run the rule checks on ``model_path`` and return the Report (verdict, findings,
    measurements). ``select`` limits the run to some check ids (``load`` always runs).

    With ``score=True`` (the profile's reference set) or a :class:`ScoreOptions` (your data),
    the model is then scored and ``report.score`` filled; the dataset is listed before any
    check runs, so an unreadable dataset raises DataError at once. ``progress`` receives
    per-set progress while scoring. ``threads`` above the usable cores is a UsageError.
    ``device`` "cuda" runs onnxruntime on the GPU (the onnxruntime-gpu package); a device this
    onnxruntime cannot use is a UsageError before any work.

    A path ending in ``.zip`` is a PyTorch submission: see :func:`validator.validate_zip`."""
    if Path(model_path).suffix.lower() == ".zip":
        from validator.submission import validate_zip  # imports this module: import late

        if _device(device) is not Device.CPU:  # the zip route builds its own sessions
            raise UsageError("--device cuda is not available for .zip submissions yet")
        return validate_zip(
            model_path, profile, select=select, threads=threads, score=score, progress=progress
        )
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    wanted = frozenset(_selection(select))
    options = ScoreOptions() if score is True else (score or None)
    target = _score_target(options, prof) if options is not None else None
    chosen = _device(device)
    job = Job(Path(model_path), prof, wanted, limits, options, target, chosen)
    report = Report(model=_model_info(job.path), profile=prof.to_dict())
    report.isolation = {"threads": limits.threads, "breaches": [], "peak_rss_bytes": 0}
    report.isolation["device"] = chosen.value
    if chosen is not Device.CPU:
        report.notes.append(DEVICE_NOTE)
    _evaluate(job, report, progress)
    return report


def _device(device: Device | str) -> Device:
    """The Device, refused (UsageError) when it is unknown or this onnxruntime lacks it."""
    from validator.inference import providers_for

    try:
        chosen = Device(device)
    except ValueError:
        known = [d.value for d in Device]
        raise UsageError(unknown_name_message("device", str(device), known)) from None
    if chosen is not Device.CPU:
        providers_for(chosen)
    return chosen


def _score_target(options: ScoreOptions, profile: Profile) -> ScoreTarget:
    from validator.scoring.evaluation import (
        score_target,  # the scoring machinery, only when scoring
    )

    return score_target(options, profile)


def _evaluate(job: Job, report: Report, progress: Progress | None) -> None:
    start: Phase | None = Phase.ANALYSIS
    unavailable: dict[str, str] = {}
    restarts = 0
    while start is not None:
        watcher = _Watcher(report, progress)
        body = _child_body(job, report, start, unavailable)
        outcome = run_isolated(body, job.limits, Phase.ANALYSIS, watcher.handle)
        peak = max(report.isolation["peak_rss_bytes"], outcome.peak_rss_bytes)
        report.isolation["peak_rss_bytes"] = peak
        if outcome.ok:
            return
        report.isolation["breaches"].append(
            {
                "phase": outcome.phase.value,
                "breach": _value(outcome.breach),
                "reason": outcome.reason,
            }
        )
        restarts += 1
        start = _after_breach(job, report, watcher, outcome, unavailable, restarts)


def _value(breach: Breach | None) -> str | None:
    return None if breach is None else breach.value


def _child_body(job: Job, report: Report, start: Phase, unavailable: dict[str, str]) -> Any:
    def body(sender: Sender) -> None:
        ChildRun(job, report, sender, unavailable).run(start, RemoteProgress(sender))
        sender.send("done")

    return body


class _Watcher:
    """The parent's view of the child: the Report as last published, the check running and
    the evidence being computed."""

    def __init__(self, report: Report, progress: Progress | None) -> None:
        self.report, self.progress = report, progress
        self.check: str | None = None
        self.evidence: list[str] = []

    def handle(self, message: dict[str, Any]) -> None:
        kind = message["kind"]
        if kind == "report":
            _replace(self.report, report_from_dict(message["report"]))
            self.check = None
        elif kind == "check":
            self.check = str(message.get("id"))
        elif kind == "evidence":
            name = str(message.get("name"))
            if message.get("started"):
                self.evidence.append(name)
            elif name in self.evidence:
                self.evidence.remove(name)
        elif kind == "progress":
            forward_progress(message, self.progress)


def _replace(report: Report, published: Report) -> None:
    isolation = report.isolation  # the parent's own record, never the child's
    report.__dict__.update(published.__dict__)
    report.isolation = isolation


def _after_breach(
    job: Job, report: Report, watcher: _Watcher, outcome: Outcome,
    unavailable: dict[str, str], restarts: int,
) -> Phase | None:  # fmt: skip
    """Record what the breach stopped; the phase to restart from, or None to stop."""
    reason = outcome.reason
    if report.get(CheckId.LOAD.value) is None:
        _fail(report, job, CheckId.LOAD, reason)
        for spec in ordered_checks():
            if spec.id.value in job.wanted and report.get(spec.id.value) is None:
                report.add(skipped(spec.id, job.profile, "the model did not load"))
        return None
    if watcher.check is not None and report.get(watcher.check) is None:
        _fail(report, job, CheckId(watcher.check), reason)
    if outcome.phase is Phase.SCORING:
        report.notes.append(f"score skipped: {reason}")
        return None
    if watcher.evidence and restarts < MAX_RESTARTS:
        unavailable.update(dict.fromkeys(watcher.evidence, reason))
        return outcome.phase
    _fail_rest_of_phase(job, report, outcome.phase, reason)
    following = ORDER[ORDER.index(outcome.phase) + 1 :]
    return following[0] if following and restarts < MAX_RESTARTS else None


def _fail(report: Report, job: Job, check: CheckId, reason: str) -> None:
    severity = job.profile.severity_of(check)
    status = Status.FAIL if severity is Severity.ERROR else Status.WARN
    report.add(Finding(check.value, status, severity, reason))


def _fail_rest_of_phase(job: Job, report: Report, phase: Phase, reason: str) -> None:
    for spec in ordered_checks():
        if pending(spec, phase, job, report):
            _fail(report, job, spec.id, f"not evaluated: {reason}")


def _selection(select: Iterable[str] | None) -> set[str]:
    known = CHECKS.names()
    if select is None:
        return set(known)
    chosen = set(select)
    for name in chosen - set(known) - {CheckId.LOAD.value}:
        raise UsageError(unknown_name_message("check", name, known))
    return chosen


def _model_info(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = {"path": str(path), "sha256": None, "external_data_bytes": 0}
    try:
        info["file_bytes"] = path.stat().st_size if path.is_file() else None
    except OSError:
        info["file_bytes"] = None
    return info
