"""Scoring a Track 2 detector inside a validation run: the data set, the run, the notes, the
``score-spread`` finding and the predictions file. validator/scoring/evaluation.py hands over
here when the profile's task is detection; the gates (input, runtime, output checks) are the
same."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from validator.checks.context import Context
from validator.config import Profile
from validator.detection.data import DetectionData, open_detection_data
from validator.detection.engine import SetScores, score_images
from validator.detection.score import Scored, detection_score
from validator.errors import DataError, UsageError, ValidatorError
from validator.findings import Finding, Report, Status
from validator.inference import RuntimeFailure
from validator.resources import reference_set
from validator.scoring.engine import Progress
from validator.scoring.evaluation import ScoreOptions, ScoreTarget
from validator.vocab import CheckId

PREDICTIONS_HEADER = ("image", "set", "label", "score")


def detection_target(options: ScoreOptions, profile: Profile) -> ScoreTarget:
    """List the Track 2 data set to score (DataError naming the file when unreadable)."""
    if options.attack is not None:
        raise UsageError(
            f"--attack attacks a classifier; profile {profile.name} scores a detector "
            "(build a Track 2 data set with 'robust-validate attack SURROGATE --for detection')"
        )
    if options.data is not None:
        data = open_detection_data(options.data)
        return ScoreTarget(str(options.data), None, False, detection=data)
    name = f"reference_data/{profile.reference_data}"
    root = reference_set(profile.reference_data)
    if root is None:
        problem = f"no reference data is installed for profile {profile.name}; pass --data DIR"
        return ScoreTarget(name, None, True, problem)
    try:
        return ScoreTarget(name, None, True, detection=open_detection_data(root))
    except DataError as exc:
        return ScoreTarget(name, None, True, f"the reference set does not fit: {exc}")


def add_detection_score(
    report: Report,
    ctx: Context,
    options: ScoreOptions,
    target: ScoreTarget,
    data: DetectionData,
    progress: Progress | None,
) -> None:
    """Score the detector on ``data`` into ``report.score`` (or a note saying why not)."""
    batch = options.batch_size
    consistency = report.get(CheckId.BATCH_CONSISTENCY.value)
    if consistency is not None and consistency.status in (Status.FAIL, Status.WARN):
        batch = 1
        report.notes.append("scored image by image: batching changes this model's outputs")
    try:
        runs = score_images(ctx.runner, data.sets, ctx.profile, batch, options.workers, progress)
    except RuntimeFailure as exc:
        report.notes.append(f"score skipped: {exc.reason}")
        return
    scored = Scored.from_runs(runs)
    score = detection_score(scored, ctx.profile.positive, runs)
    nan = int(np.count_nonzero(np.isnan(scored.raw)))
    score.update(
        dataset=target.name,
        source="reference" if target.reference else "data",
        layout=data.layout,
        batch=ctx.runner.fixed_batch or batch,
        nan_outputs=nan,
    )
    report.score = score
    report.add(spread_finding(ctx, score))
    report.notes.extend(_notes(score, target, data))
    if options.predictions is not None:
        write_predictions(options.predictions, runs)


def spread_finding(ctx: Context, score: dict[str, Any]) -> Finding:
    """Warn when the scores hardly separate images: constant, within the profile's tolerance,
    or best thresholded by flagging everything (F1 is then that of "all adversarial")."""
    spread = score["spread"]
    low, high, distinct = spread["min"], spread["max"], spread["distinct"]
    counts = score.get("counts") or {}
    flag_all = bool(counts) and counts.get("tn") == 0 and counts.get("fn") == 0
    width = None if low is None else high - low
    tolerance = ctx.profile.tolerance * max(1.0, abs(low or 0.0), abs(high or 0.0))
    if distinct <= 1:
        problem = f"all {score['images']} scores are equal ({low})"
    elif width is not None and width <= tolerance:
        problem = f"scores span only {width:.3g} (tolerance {tolerance:.3g})"
    elif flag_all:
        problem = "the best threshold flags every image as adversarial"
    else:
        problem = None
    message = (
        f"{distinct} distinct scores from {low:.6g} to {high:.6g}"
        if problem is None
        else f"{problem}: the F1 is that of labelling everything adversarial"
    )
    details = {"min": low, "max": high, "distinct": distinct}
    return ctx.verdict(CheckId.SCORE_SPREAD, problem is None, message, width, None, details)


def _notes(score: dict[str, Any], target: ScoreTarget, data: DetectionData) -> list[str]:
    notes = []
    if target.reference:
        notes.append(
            f"scored on the bundled Track 2 reference set {target.name} (synthetic images, not "
            "the competition's data); pass --data DIR to score on your own"
        )
    if score["f1"] is None:
        notes.append("no adversarial image in the data: F1, AUROC and AP are undefined")
    if score["nan_outputs"]:
        notes.append(f"{score['nan_outputs']} images got NaN scores; they rank as most clean")
    if data.ignored:
        names = ", ".join(f"{p.name}/" for p in data.ignored)
        notes.append(f"ignored {names} in {target.name}: only clean/ and adversarial/ are scored")
    return notes


def write_predictions(path: Path, runs: list[SetScores]) -> None:
    """``image, set, label, score`` per image (score as the model returned it, repr-exact)."""
    try:
        with Path(path).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(PREDICTIONS_HEADER)
            for run in runs:
                for sample, value in zip(run.image_set.samples, run.scores, strict=True):
                    writer.writerow(
                        (sample.name, run.image_set.name, sample.label, repr(float(value)))
                    )
    except OSError as exc:
        raise ValidatorError(f"cannot write {path}: {exc.strerror or exc}") from None
