"""The Track 2 ``score`` object: best-threshold F1 and everything needed to read it.

Pure arithmetic over the scores the engine collected; see metrics.py for the metric's choices.
``f1`` and ``final`` hold the same number, so tools that rank by ``final`` rank Track 2 too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from validator.detection.data import NO_CORRUPTION, DetectionKind, DetectionSample
from validator.detection.engine import SetScores
from validator.detection.metrics import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    OperatingPoint,
    auroc,
    average_precision,
    best_f1,
    bootstrap_f1,
    orient,
)
from validator.vocab import ScoreDirection


@dataclass(frozen=True)
class Scored:
    """Every image with its raw score, in set order."""

    samples: tuple[DetectionSample, ...]
    set_names: tuple[str, ...]
    raw: np.ndarray  # the model's scores
    labels: np.ndarray  # 1 adversarial, 0 clean

    @classmethod
    def from_runs(cls, runs: Sequence[SetScores]) -> Scored:
        """Concatenate the per-set results."""
        samples = tuple(s for r in runs for s in r.image_set.samples)
        names = tuple(r.image_set.name for r in runs for _ in r.image_set.samples)
        raw = np.concatenate([r.scores for r in runs]) if runs else np.empty(0)
        labels = np.array([s.label for s in samples], dtype=np.int64)
        return cls(samples, names, raw, labels)


def detection_score(
    scored: Scored, positive: ScoreDirection, runs: Sequence[SetScores]
) -> dict[str, Any]:
    """The report's ``score`` object for a detector."""
    oriented = orient(scored.raw, positive)
    point = best_f1(oriented, scored.labels)
    flagged = oriented >= point.threshold if point is not None else np.zeros(len(oriented), bool)
    f1 = point.f1 if point is not None else None
    interval = bootstrap_f1(oriented, scored.labels)
    return {
        "task": "detection",
        "metric": "best-threshold F1 (adversarial = positive class)",
        "positive": positive.value,
        "f1": f1,
        "final": f1,
        "f1_interval": list(interval) if interval else None,
        "f1_interval_method": (
            f"95% percentile bootstrap, {BOOTSTRAP_RESAMPLES} stratified resamples, "
            f"seed {BOOTSTRAP_SEED}, threshold re-chosen in each"
        ),
        **_operating_point(point, positive),
        "auroc": auroc(oriented, scored.labels),
        "average_precision": average_precision(oriented, scored.labels),
        "images": len(scored.labels),
        "adversarial": int(scored.labels.sum()),
        "clean": int(len(scored.labels) - scored.labels.sum()),
        "prevalence": float(scored.labels.mean()) if len(scored.labels) else None,
        "sets": [_set_entry(r, flagged[a:b]) for r, (a, b) in zip(runs, _spans(runs), strict=True)],
        "attacks": _rates(scored, flagged, "attack", 1),
        "corruptions": _rates(scored, flagged, "corruption", 0),
        "spread": spread(scored.raw),
    }


def _operating_point(point: OperatingPoint | None, positive: ScoreDirection) -> dict[str, Any]:
    sign = 1.0 if positive is ScoreDirection.HIGH else -1.0
    rule = "score >= threshold" if positive is ScoreDirection.HIGH else "score <= threshold"
    if point is None:
        return {
            "threshold": None,
            "rule": rule,
            "threshold_between": None,
            "precision": None,
            "recall": None,
            "counts": None,
        }
    below = None if point.below is None else _finite(sign * point.below)
    return {
        "threshold": _finite(sign * point.threshold),
        "rule": rule,
        "threshold_between": [below, _finite(sign * point.threshold)],
        "precision": point.precision,
        "recall": point.recall,
        "counts": {"tp": point.tp, "fp": point.fp, "fn": point.fn, "tn": point.tn},
    }


def _finite(value: float) -> float | str:
    # JSON has no infinities: name them (a NaN score is oriented to -inf, see metrics.orient).
    return value if np.isfinite(value) else ("inf" if value > 0 else "-inf")


def _spans(runs: Sequence[SetScores]) -> Iterable[tuple[int, int]]:
    start = 0
    for r in runs:
        yield start, start + len(r.scores)
        start += len(r.scores)


def _set_entry(run: SetScores, flagged: np.ndarray) -> dict[str, Any]:
    labels = np.array([s.label for s in run.image_set.samples], dtype=np.int64)
    entry: dict[str, Any] = {
        "name": run.image_set.name,
        "kind": run.image_set.kind.value,
        "images": len(labels),
        "adversarial": int(labels.sum()),
        "flagged": int(flagged.sum()),
    }
    if run.image_set.kind is DetectionKind.ADVERSARIAL:
        entry["detection_rate"] = _ratio(int(flagged.sum()), len(labels))
    elif run.image_set.kind is DetectionKind.CLEAN:
        entry["false_positive_rate"] = _ratio(int(flagged.sum()), len(labels))
    return entry


def _rates(scored: Scored, flagged: np.ndarray, field: str, label: int) -> list[dict[str, Any]]:
    """Per attack (detection rate) or per clean corruption family (false-positive rate); empty
    when the data names no group beyond the default."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for sample, hit in zip(scored.samples, flagged, strict=True):
        if sample.label == label:
            groups[getattr(sample, field)].append(bool(hit))
    if field == "corruption" and set(groups) <= {NO_CORRUPTION}:
        return []
    rate = "detection_rate" if label == 1 else "false_positive_rate"
    key = "attack" if field == "attack" else "family"
    return [
        {key: name, "images": len(hits), "flagged": sum(hits), rate: _ratio(sum(hits), len(hits))}
        for name, hits in sorted(groups.items())
    ]


def spread(raw: np.ndarray) -> dict[str, Any]:
    """Range and number of distinct finite scores (how much the detector separates images)."""
    finite = raw[np.isfinite(raw)]
    if not finite.size:
        return {"min": None, "max": None, "distinct": 0}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "distinct": int(np.unique(finite).size),
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None
