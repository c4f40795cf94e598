"""Detection arithmetic, with no I/O: best-threshold F1, AUROC, average precision, intervals.

Every function takes *oriented* scores, where a higher value means "more likely adversarial"
(:func:`orient` turns a model's raw scores into that form from the profile's ``positive``), and
labels 1 (adversarial, the positive class) or 0 (clean).

The F1 follows the organizers' description: sort the scores of the whole data set and take the
threshold with the highest F1. Choices where they were silent:

- An image is flagged adversarial when its oriented score is >= the threshold, and thresholds
  are only ever the distinct scores themselves, so images with equal scores are always on the
  same side (a tie is never split).
- When several thresholds reach the same best F1, the highest (fewest images flagged) wins.
- F1 = 2 TP / (2 TP + FP + FN). With no adversarial image, F1, AUROC and AP are undefined (None);
  with no clean image, AUROC is undefined and F1 = AP = 1.
- A NaN score ranks below every other score (as the most clean-looking); see :func:`orient`.
- The interval is a percentile bootstrap that resamples clean and adversarial images separately
  (so each resample keeps the data set's proportion) and re-selects the threshold every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from validator.vocab import ScoreDirection

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class OperatingPoint:
    """The counts and rates at one threshold (on oriented scores)."""

    threshold: float  # lowest oriented score flagged adversarial
    below: float | None  # the next lower distinct score (None: everything is flagged)
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); 0 when there is no true positive."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    @property
    def precision(self) -> float | None:
        """TP / flagged, None when nothing is flagged."""
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        """TP / adversarial images, None without any."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else None


def orient(scores: np.ndarray, positive: ScoreDirection) -> np.ndarray:
    """Raw model scores -> float64 scores where higher means adversarial; NaN becomes -inf."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    oriented = values if positive is ScoreDirection.HIGH else -values
    return np.where(np.isnan(oriented), -np.inf, oriented)


def _sorted_groups(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Descending scores, cumulative TP and FP, and the index of the last image of each group
    of equal scores (the only places a threshold may fall)."""
    order = np.argsort(-scores, kind="stable")
    ranked, truth = scores[order], labels[order].astype(np.int64)
    tp = np.cumsum(truth)
    fp = np.cumsum(1 - truth)
    ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    return ranked, tp, fp, ends


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    if np.isnan(s).any():
        raise ValueError("oriented scores hold NaN; pass them through orient() first")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (clean) or 1 (adversarial)")
    return s, y.astype(np.int64)


def best_f1(scores: np.ndarray, labels: np.ndarray) -> OperatingPoint | None:
    """The threshold with the best F1 (ties: the highest threshold); None without positives."""
    s, y = _check(scores, labels)
    positives = int(y.sum())
    if positives == 0:
        return None
    ranked, tp, fp, ends = _sorted_groups(s, y)
    f1 = 2 * tp[ends] / (2 * tp[ends] + fp[ends] + (positives - tp[ends]))
    k = int(np.argmax(f1))  # first maximum = highest threshold
    end = int(ends[k])
    below = float(ranked[end + 1]) if end + 1 < len(ranked) else None
    negatives = len(y) - positives
    tp_k, fp_k = int(tp[end]), int(fp[end])
    return OperatingPoint(float(ranked[end]), below, tp_k, fp_k, positives - tp_k, negatives - fp_k)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (ties count one half); None unless both classes occur."""
    s, y = _check(scores, labels)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Average rank (1-based) of each distinct value, ascending.
    upper = np.cumsum(counts)
    average = upper - (counts - 1) / 2.0
    rank_sum = float(average[inverse][y == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Sum over thresholds of (recall gain) x precision, as scikit-learn's
    ``average_precision_score``; None without positives."""
    s, y = _check(scores, labels)
    positives = int(y.sum())
    if positives == 0:
        return None
    _, tp, fp, ends = _sorted_groups(s, y)
    recall = tp[ends] / positives
    precision = tp[ends] / (tp[ends] + fp[ends])
    gains = np.diff(np.concatenate(([0.0], recall)))
    return float(np.sum(gains * precision))


def bootstrap_f1(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile interval of the best-threshold F1 over stratified resamples; None without
    positives."""
    s, y = _check(scores, labels)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) == 0 or resamples <= 0:
        return None
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        picked = np.concatenate(
            (rng.choice(pos, len(pos)), rng.choice(neg, len(neg)) if len(neg) else neg)
        )
        point = best_f1(s[picked], y[picked])
        values[r] = point.f1 if point is not None else 0.0
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)
