"""The one pipeline: load, run the registered checks in order, gather measurements, score.

Every path through here ends in a Report; nothing raises for a bad model. Only errors that mean
"cannot evaluate at all" (unknown profile, unreadable dataset) escape as ValidatorError.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from validator.checks import CHECKS, Stage, check_load
from validator.checks.compat import default_opset
from validator.checks.context import Context
from validator.checks.ensemble import ensemble_measurement
from validator.checks.interface import describe
from validator.checks.registry import CheckSpec
from validator.config import Profile, load_profile
from validator.engine import Progress
from validator.errors import UsageError
from validator.evaluation import ScoreOptions, add_score, score_target
from validator.findings import Finding, Report, Status
from validator.registry import unknown_name_message
from validator.vocab import CheckId, MacsConvention

__all__ = ["Progress", "ScoreOptions", "ordered_checks", "resolve_profile", "validate"]


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
) -> Report:
    """Run the rule checks on ``model_path`` and return the Report (verdict, findings,
    measurements). ``select`` limits the run to some check ids (``load`` always runs).

    With ``score=True`` (the profile's reference set) or a :class:`ScoreOptions` (your data),
    the model is then scored and ``report.score`` filled; the dataset is listed before any
    check runs, so an unreadable dataset raises DataError at once. ``progress`` receives
    per-set progress while scoring."""
    prof = resolve_profile(profile)
    wanted = _selection(select)
    options = ScoreOptions() if score is True else (score or None)
    target = score_target(options, prof) if options is not None else None
    path = Path(model_path)
    report = Report(model=_model_info(path), profile=prof.to_dict())
    ctx = _run_checks(path, prof, wanted, threads, report)
    if options is not None and target is not None:
        add_score(report, ctx, options, target, progress)
    return report


def _run_checks(
    path: Path, prof: Profile, wanted: set[str], threads: int | None, report: Report
) -> Context | None:
    finding, model = check_load(path, prof)
    report.add(finding)
    if model is None:
        for spec in ordered_checks():
            if spec.id.value in wanted:
                report.add(_skipped(spec.id, prof, "skipped: the model did not load"))
        return None
    ctx = Context(model, prof, threads)
    for spec in ordered_checks():
        if spec.id.value in wanted:
            report.add(_run_one(spec.id, spec.run, spec.stage, ctx, report))
    report.measurements = _measurements(ctx, report)
    # Read last: the hash is computed in a thread that overlaps the checks.
    report.model.update(
        sha256=model.sha256,
        file_bytes=model.file_bytes,
        external_data_bytes=model.external_data_bytes,
    )
    return ctx


def ordered_checks() -> list[CheckSpec]:
    """Registered checks, static before runtime, in REPORT.md's order within a stage."""
    stages, ids = list(Stage), list(CheckId)
    return sorted(CHECKS, key=lambda s: (stages.index(s.stage), ids.index(s.id)))


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


def _skipped(check: CheckId, profile: Profile, reason: str) -> Finding:
    return Finding(check.value, Status.SKIP, profile.severity_of(check), reason)


def _run_one(check: CheckId, run: Any, stage: Stage, ctx: Context, report: Report) -> Finding:
    if stage is Stage.RUNTIME:
        gate = report.get(CheckId.INPUT.value)
        if gate is not None and gate.status not in (Status.PASS, Status.WARN):
            return _skipped(
                check,
                ctx.profile,
                "skipped: the input is not N x 3 x S x S float32, so images cannot be fed",
            )
    try:
        result: Finding = run(ctx)
        return result
    except Exception as exc:  # a bug or an unforeseen model must not become a traceback
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"internal error while checking: {type(exc).__name__}: {exc} ({where.name})"
        return ctx.finding(check, Status.ERROR, message[:400])


def _measurements(ctx: Context, report: Report) -> dict[str, Any]:
    try:
        analysis = ctx.analysis
    except Exception:
        return {}
    index = analysis.index
    ensemble = report.get(CheckId.ENSEMBLE.value)
    return {
        "params": analysis.params.total,
        "macs": {c.value: analysis.macs.total[c] for c in MacsConvention},
        "macs_unit": "multiply-accumulates per 3x224x224 image at batch 1",
        "opset": default_opset(ctx),
        "input": describe(index.inputs[0]) if len(index.inputs) == 1 else None,
        "output": describe(index.graph.output[0]) if len(index.graph.output) == 1 else None,
        "nodes": len(index.graph.node),
        "ensemble": ensemble_measurement(ctx)
        if ensemble and ensemble.status is not Status.SKIP
        else None,
    }
