"""Scoring inside a validation run: which dataset, whether the checks allow it, the run itself,
and the notes that explain the numbers.

The dataset is listed before any check runs (so a bad dataset fails fast, naming the file);
scoring runs after the checks, and only when the input, runtime and output checks ran and did
not fail (a failure under a severity lowered to warning does not stop it). Without ``--data``
the profile's reference set is used, and the report says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator.checks.context import Context
from validator.config import Profile
from validator.data.datasets import CLEAN_DIR, Dataset, SetKind, list_set, open_dataset
from validator.detection.data import DetectionData
from validator.errors import DataError, UsageError
from validator.findings import Report, Status
from validator.inference import RuntimeFailure
from validator.resources import ENV_VAR, missing_reason, reference_root, reference_set
from validator.scoring.arithmetic import Score, SetScore, Tally, chance_bound, near_chance
from validator.scoring.attack_evidence import add_evidence
from validator.scoring.engine import (
    EngineSettings,
    PredictionsCsv,
    PredictionSink,
    Progress,
    SetRun,
    score_sets,
)
from validator.scoring.gallery import GallerySink, tee
from validator.scoring.options import ScoreOptions as ScoreOptions  # re-exported
from validator.scoring.options import scoring_options as scoring_options  # re-exported
from validator.vocab import CheckId, MaskingPolicy, Task


@dataclass(frozen=True)
class ScoreTarget:
    """The dataset to score, listed; ``dataset`` is None (and ``problem`` says why) when the
    reference set is missing or does not fit the profile."""

    name: str
    dataset: Dataset | None
    reference: bool
    problem: str | None = None
    detection: DetectionData | None = None  # a Track 2 data set (profiles whose task is detection)


_GATES = (CheckId.INPUT, CheckId.RUNTIME, CheckId.OUTPUT)
_GATE_IDS = {c.value for c in _GATES}  # reported by the gate loop with their own reason


def score_target(options: ScoreOptions, profile: Profile) -> ScoreTarget:
    """List the dataset to score (DataError naming the file when it is unreadable)."""
    predictions = options.predictions
    if predictions is not None and not predictions.parent.is_dir():
        raise UsageError(f"cannot write {predictions}: {predictions.parent} is not a folder")
    if profile.task is Task.DETECTION:
        from validator.detection.evaluation import detection_target

        return detection_target(options, profile)
    skip = options.skip_bad_images
    if options.attack is not None:
        from validator.attacks import load_suite

        load_suite(options.attack)  # an unknown suite is a usage error before any work
    if options.data is not None:
        dataset = _open_data(options.data, profile, skip, bare_ok=options.attack is not None)
        return ScoreTarget(str(options.data), _capped(dataset, options), reference=False)
    name = f"reference_data/{profile.reference_data}"
    root = reference_set(profile.reference_data)
    if root is None:
        why = missing_reason() if reference_root() is None else f"{name} is missing"
        missing = f"no reference data for profile {profile.name}: {why}"
        return ScoreTarget(
            name,
            None,
            True,
            f"{missing} (set {ENV_VAR} to a reference_data folder or pass --data DIR)",
        )
    try:
        listed = open_dataset(root, profile.num_classes, skip_bad_images=skip)
    except DataError as exc:  # the user did not choose this data: explain, do not stop
        return ScoreTarget(
            name, None, True, f"the reference set does not fit: {exc}; pass --data DIR"
        )
    return ScoreTarget(name, _capped(listed, options), reference=True)


def _open_data(data: Path, profile: Profile, skip: bool, bare_ok: bool) -> Dataset:
    """The dataset at ``data``; with ``bare_ok`` (an on-the-fly attack needs only clean images)
    a folder that is itself one set is taken as the clean set, as ``attack --data`` does."""
    if bare_ok and data.is_dir() and not (data / CLEAN_DIR).is_dir():
        clean = list_set(data, CLEAN_DIR, SetKind.CLEAN, profile.num_classes, skip)
        return Dataset(data, (clean,))
    return open_dataset(data, profile.num_classes, skip_bad_images=skip)


def _capped(dataset: Dataset, options: ScoreOptions) -> Dataset:
    """Only the first ``--max-images`` images of each set (in the set's fixed order)."""
    cap = options.max_images
    if cap is None:
        return dataset
    sets = tuple(dataclasses.replace(s, samples=s.samples[:cap]) for s in dataset.sets)
    return dataclasses.replace(dataset, sets=sets)


def add_score(
    report: Report,
    ctx: Context | None,
    options: ScoreOptions,
    target: ScoreTarget,
    progress: Progress | None,
) -> None:
    """Score the model on ``target`` into ``report.score`` (or explain in a note why not)."""
    blocker = _score_blocker(report, ctx, target, options.score_anyway)
    if blocker is None and ctx is not None and target.detection is not None:
        from validator.detection.evaluation import add_detection_score

        add_detection_score(report, ctx, options, target, target.detection, progress)
        return
    if blocker is not None or ctx is None or target.dataset is None:
        report.notes.append(f"score skipped: {blocker}")
        return
    batch = options.batch_size
    consistency = report.get(CheckId.BATCH_CONSISTENCY.value)
    if consistency is not None and consistency.status in (Status.FAIL, Status.WARN):
        batch = 1
        report.notes.append(
            "scored image by image: the batch-consistency check found that "
            "batching changes this model's outputs"
        )
    settings = EngineSettings(batch, options.workers, options.skip_bad_images)
    gallery = GallerySink(options.gallery) if options.gallery else None
    try:
        with _predictions_sink(options.predictions) as sink:
            runs = score_sets(
                ctx.runner, target.dataset.sets, ctx.profile, settings, progress,
                tee(sink, gallery),
            )  # fmt: skip
    except RuntimeFailure as exc:
        report.notes.append(f"score skipped: {exc.reason}")
        return
    extra = _attack_sets(report, ctx, options, target.dataset, progress)
    score = _score(runs, ctx.profile, target, ctx.runner.fixed_batch or batch, extra)
    report.score = score.to_dict()
    if target.dataset.attacked:  # sets read from disk: what their attack manifests record
        error = ctx.profile.masking is MaskingPolicy.ERROR
        add_evidence(report, target.dataset, ctx.model.sha256, error)
    _label_score(report)
    if gallery is not None:
        report.score["gallery"] = gallery.pairs(target.dataset)
    report.notes.extend(_score_notes(score, runs, ctx.profile, target, options.max_images))


def _score_blocker(
    report: Report, ctx: Context | None, target: ScoreTarget, anyway: bool = False
) -> str | None:
    if target.dataset is None and target.detection is None:
        return target.problem or "no dataset"
    if ctx is None:
        return "the model did not load"
    failed = [f.id for f in report.findings if f.blocks and f.id not in _GATE_IDS]
    if failed and not anyway:
        return (
            f"the model fails {', '.join(failed)} (error severity), so it cannot be submitted "
            "as is; pass --score-anyway to score it all the same"
        )
    for check in _GATES:
        finding = report.get(check.value)
        if finding is None:
            return (
                f"the {check.value} check was not selected; scoring runs only after the "
                "input, runtime and output checks pass"
            )
        if finding.status in (Status.FAIL, Status.ERROR, Status.SKIP):
            return f"the {check.value} check did not pass ({finding.message})"
    return None


@contextmanager
def _predictions_sink(path: Path | None) -> Iterator[PredictionSink | None]:
    if path is None:
        yield None
        return
    with PredictionsCsv(path) as writer:
        yield writer


def _attack_sets(
    report: Report, ctx: Context, options: ScoreOptions, dataset: Dataset, progress: Progress | None
) -> tuple[SetScore, ...]:
    """Attack the clean set on the fly (``--attack SUITE``); the counts come from the same
    onnxruntime model on the exact 8-bit images, so nothing is scored twice."""
    if options.attack is None:
        return ()
    from validator.attacks import run_suite  # the attack library is only loaded when asked for

    with module_gradients(options.module, ctx.profile, ctx.threads) as gradients:
        run = run_suite(
            ctx.model.path, dataset.sets[0], options.attack, ctx.profile,
            threads=ctx.threads, progress=progress, max_images=options.max_images,
            device=ctx.device.value, gradients=gradients,
        )  # fmt: skip
        if gradients is not None and gradients.measures:
            report.measurements["whitebox_confinement"] = gradients.measures
    for finding in run.findings:
        report.add(finding)
    report.notes.extend(
        f"attack set self-{o.name} skipped: {o.skipped}" for o in run.sets if o.skipped
    )
    report.notes.append(
        f"sets named self-* were attacked on the fly against this model ({options.attack} suite)"
    )
    report.measurements["attacks"] = run.manifest.get("sets")
    report.measurements["attack_worst_case"] = run.worst_case
    report.measurements["whitebox_gradients"] = run.manifest.get("whitebox_gradients")
    report.notes.extend(_method_notes(run.attacked))
    return tuple(
        SetScore(f"self-{o.name}", "attacked", Tally(o.images, _counted(o)), f"attack:{o.family}")
        for o in run.attacked
    )


@contextmanager
def module_gradients(folder: Path | None, profile: Profile, threads: int | None) -> Iterator[Any]:
    """For a PyTorch submission (its unpacked ``folder``), its module's gradients from a
    confined child, ended afterwards; None (the exported graph's conversion) otherwise."""
    if folder is None:
        yield None
        return
    from validator.submission.remote_module import RemoteGradients

    gradients = RemoteGradients(folder, profile, threads)
    try:
        yield gradients
    finally:
        gradients.close()


def _counted(outcome: Any) -> int:
    """Images counted right: for a randomized model the expectation over its scoring runs
    (rounded to whole images), else the attack's own verdict."""
    if outcome.expected_correct is not None:
        return round(float(outcome.expected_correct))
    return int(outcome.correct)


def _method_notes(outcomes: Any) -> list[str]:
    """Per set, the method that actually ran when it differs from the set's name."""
    notes = []
    for o in outcomes:
        used = {m: n for m, n in o.methods.items() if m not in ("clean", o.name)}
        if len(used) > 1 or (used and "rays" in used):
            listed = ", ".join(f"{m} on {n} images" for m, n in sorted(used.items()))
            notes.append(f"attack set self-{o.name}: {listed}")
    return notes


def _label_score(report: Report) -> None:
    """Say on the score itself what it is: the worst case per image over every attack run,
    \"randomized\" (expectation over runs) and an upper bound when masking evidence remains."""
    if report.score is None:
        return
    worst = report.measurements.get("attack_worst_case")
    if worst:
        report.score["worst_case"] = worst
    gradients = report.measurements.get("whitebox_gradients")
    if gradients:
        report.score["whitebox_gradients"] = gradients
    sets = report.measurements.get("attacks") or []
    random = [s["randomized"] for s in sets if isinstance(s, dict) and s.get("randomized")]
    if random:
        report.score["randomized"] = {
            "draws_per_image": random[0]["draws_per_image"],
            "convention": "attacked accuracy is the expectation over separate runs per image "
            "(the worst case over runs is listed per set under measurements.attacks)",
        }
    masking = report.get("masking")
    if masking is not None and masking.details.get("upper_bound"):
        report.score["bound"] = "upper"
        report.score["bound_note"] = str(
            masking.details.get("bound_note")
            or "attacked accuracy and final score are upper bounds under the attacks run "
            "(masking evidence remains)"
        )


def _score(
    runs: list[SetRun],
    profile: Profile,
    target: ScoreTarget,
    batch: int,
    attacked: tuple[SetScore, ...] = (),
) -> Score:
    sets = (
        tuple(
            SetScore(
                r.image_set.name,
                r.image_set.kind.value,
                r.tally,
                r.image_set.labels.value,
                len(r.skipped) + r.image_set.unlisted,
            )
            for r in runs
        )
        + attacked
    )
    skipped = [bad.to_dict() for r in runs for bad in r.skipped]
    extra = {
        "source": "reference" if target.reference else "data",
        "chance": 1.0 / profile.num_classes,
        "batch": batch,
        "skipped": skipped,
        "nan_outputs": sum(r.nan_rows for r in runs),
    }
    return Score(target.name, profile.weight_clean, profile.weight_attacked, sets, extra)


def _score_notes(
    score: Score,
    runs: list[SetRun],
    profile: Profile,
    target: ScoreTarget,
    options_cap: int | None = None,
) -> list[str]:
    notes: list[str] = []
    if target.reference:
        notes.append(
            f"scored on the bundled reference set {target.name} (synthetic images, "
            "not the competition's data); pass --data DIR to score on your own "
            "clean/ and attacked/<name>/ sets"
        )
    notes.extend(_chance_note(score, profile, target))
    if options_cap is not None:
        notes.append(
            f"--max-images {options_cap}: only the first {options_cap} images of each set were "
            "scored (a quick estimate, not the full score)"
        )
    if not score.has_attacked:
        notes.append(
            f"no attacked set (no {target.name}/attacked/<name>/ folder): attacked "
            f"accuracy and the final score are null, since final = "
            f"{profile.weight_clean} x clean + {profile.weight_attacked} x attacked "
            "needs both"
        )
    skipped = [bad for r in runs for bad in r.skipped]
    unlisted = sum(r.image_set.unlisted for r in runs)
    if skipped:
        listed = f"the first {len(skipped)}" if unlisted else "all"
        notes.append(
            f"{len(skipped) + unlisted} bad images skipped (--skip-bad-images), {listed} listed "
            f"in score.skipped; first: {skipped[0].path}: {skipped[0].reason}"
        )
    notes.extend(f"set {s.name}: no image left to score" for s in score.sets if not s.tally.images)
    nan_rows = sum(r.nan_rows for r in runs)
    if nan_rows:
        notes.append(f"{nan_rows} images got NaN outputs and count as wrong")
    dataset = target.dataset
    if dataset is not None and dataset.ignored:
        names = ", ".join(f"{p.name}/" for p in dataset.ignored)
        notes.append(
            f"ignored {names} in {target.name}: only clean/ and attacked/<name>/ are scored"
        )
    return notes


def _chance_note(score: Score, profile: Profile, target: ScoreTarget) -> list[str]:
    clean = score.pooled("clean")
    if not near_chance(clean.correct, clean.images, profile.num_classes):
        return []
    where = "the reference set" if target.reference else target.name
    bound = chance_bound(clean.images, profile.num_classes)
    head = (
        f"clean accuracy {clean.accuracy:.4f} on {where} is at chance level for "
        f"{profile.num_classes} classes ({clean.correct} of {clean.images} right; guessing "
        f"gets up to {bound} right with 99% probability)"
    )
    if target.reference:
        return [
            f"{head}: the number means nothing unless the model was trained on the reference "
            "classes; score it on data of its own classes with --data DIR"
        ]
    return [
        f"{head}: check the labels and the preprocessing (the profile feeds "
        f"{profile.channel_order.value.upper()} pixels in [0, 1], resized by "
        f"'{profile.resize.value}' to {profile.input_size} x {profile.input_size})"
    ]
