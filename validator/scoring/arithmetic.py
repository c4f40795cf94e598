"""Score arithmetic, with no I/O: predictions, accuracy, pooling, the weighted final, intervals.

- Prediction = argmax of the output row (logits or probabilities alike); ties go to the lowest
  class index; a row holding NaN predicts nothing (-1) and so counts as wrong.
- Clean accuracy is the clean set's; attacked accuracy pools every attacked image (so each set
  weighs by its size); final = weight_clean x clean + weight_attacked x attacked, and is None when
  either part is None (no attacked set, or no image left to score).
- Intervals are Wilson score intervals (95% unless asked), which stay inside [0, 1] and behave at
  0% and 100%, unlike the normal approximation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

NO_PREDICTION = -1
_PROBABILITY_SUM_TOLERANCE = 1e-3


def predict(outputs: np.ndarray) -> np.ndarray:
    """Class index per row of an N x C output (argmax; -1 for a row holding NaN)."""
    rows = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    nan_rows = np.isnan(rows).any(axis=1)
    classes = np.argmax(np.where(np.isnan(rows), -np.inf, rows), axis=1)
    return np.where(nan_rows, NO_PREDICTION, classes).astype(np.int64)


def confidence(outputs: np.ndarray) -> np.ndarray:
    """Probability of the predicted class per row: the row itself when it already is a
    probability distribution (values in [0, 1] summing to 1), else the largest softmax value.
    NaN for a row holding NaN."""
    rows = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    top = rows.max(axis=1, initial=-np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        is_prob = (rows >= 0).all(axis=1) & (rows <= 1).all(axis=1)
        is_prob &= np.abs(rows.sum(axis=1) - 1.0) <= _PROBABILITY_SUM_TOLERANCE
        # A +inf logit takes all the probability (shared by the +inf entries of its row).
        pinned = np.isposinf(top)[:, None]
        shifted = np.where(pinned, np.where(np.isposinf(rows), 0.0, -np.inf), rows - top[:, None])
        softmax_top = 1.0 / np.exp(shifted).sum(axis=1)
    result = np.where(is_prob, top, softmax_top)
    return np.where(np.isnan(rows).any(axis=1), np.nan, result)


def accuracy(correct: int, images: int) -> float | None:
    """``correct / images``, or None when there is no image."""
    return correct / images if images > 0 else None


def wilson_interval(correct: int, images: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion ``correct / images`` at confidence ``level``."""
    if images <= 0:
        return None
    if not 0 <= correct <= images:
        raise ValueError(f"correct={correct} is not within 0..images={images}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p, n, z2 = correct / images, images, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # The exact end points are 0 and 1 at p = 0 and p = 1; rounding must not move them.
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == images else min(1.0, centre + half)
    return low, high


def weighted_final(
    clean: float | None, attacked: float | None, weight_clean: float, weight_attacked: float
) -> float | None:
    """``weight_clean * clean + weight_attacked * attacked``; None when either is None."""
    if clean is None or attacked is None:
        return None
    return weight_clean * clean + weight_attacked * attacked


def chance_bound(images: int, num_classes: int, level: float = 0.99) -> int:
    """The largest number of correct answers that guessing (p = 1/num_classes) reaches with
    probability ``level``: the ``level`` quantile of Binomial(images, 1/num_classes)."""
    if images <= 0:
        return 0
    p = 1.0 / max(1, num_classes)
    if p >= 1.0:
        return images
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(images + 1)
    cumulative = 0.0
    for k in range(images + 1):
        log_pmf = log_n - math.lgamma(k + 1) - math.lgamma(images - k + 1)
        cumulative += math.exp(log_pmf + k * log_p + (images - k) * log_q)
        if cumulative >= level:
            return k
    return images


def near_chance(correct: int, images: int, num_classes: int, level: float = 0.99) -> bool:
    """True when ``correct`` of ``images`` is no better than guessing among ``num_classes``."""
    return images > 0 and correct <= chance_bound(images, num_classes, level)


@dataclass(frozen=True)
class Tally:
    """Images scored and how many were right."""

    images: int = 0
    correct: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.images + other.images, self.correct + other.correct)

    @property
    def accuracy(self) -> float | None:
        """Fraction right, None for no image."""
        return accuracy(self.correct, self.images)

    def to_dict(self) -> dict[str, Any]:
        """``{"images", "correct", "accuracy", "interval"}`` as in the report."""
        interval = wilson_interval(self.correct, self.images)
        return {
            "images": self.images,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "interval": list(interval) if interval else None,
        }


@dataclass(frozen=True)
class SetScore:
    """One scored set."""

    name: str
    kind: str  # "clean" or "attacked"
    tally: Tally
    labels: str = ""
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        """One entry of the report's ``score.sets``."""
        return {
            "name": self.name,
            "kind": self.kind,
            **self.tally.to_dict(),
            "skipped": self.skipped,
            "labels": self.labels,
        }


@dataclass(frozen=True)
class Score:
    """The whole score of one model on one dataset."""

    dataset: str
    weight_clean: float
    weight_attacked: float
    sets: tuple[SetScore, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def pooled(self, kind: str) -> Tally:
        """All images of the sets of ``kind`` counted together."""
        return sum((s.tally for s in self.sets if s.kind == kind), Tally())

    @property
    def has_attacked(self) -> bool:
        """True when at least one attacked set exists (even if all its images were skipped)."""
        return any(s.kind == "attacked" for s in self.sets)

    @property
    def final(self) -> float | None:
        """The weighted final score, None without attacked sets."""
        attacked = self.pooled("attacked").accuracy if self.has_attacked else None
        clean = self.pooled("clean").accuracy
        return weighted_final(clean, attacked, self.weight_clean, self.weight_attacked)

    def to_dict(self) -> dict[str, Any]:
        """REPORT.md's ``score`` object (plus intervals, skip counts and ``extra`` fields)."""
        attacked = self.pooled("attacked").to_dict()
        if not self.has_attacked:
            attacked.update(accuracy=None, interval=None)
        attacked["sets"] = sum(1 for s in self.sets if s.kind == "attacked")
        return {
            "dataset": self.dataset,
            "weights": {"clean": self.weight_clean, "attacked": self.weight_attacked},
            "clean": self.pooled("clean").to_dict(),
            "attacked": attacked,
            "final": self.final,
            "sets": [s.to_dict() for s in self.sets],
            **self.extra,
        }


def tally(labels: Sequence[int] | np.ndarray, predictions: Sequence[int] | np.ndarray) -> Tally:
    """Count the right answers among ``predictions`` against ``labels``."""
    truth, guess = np.asarray(labels), np.asarray(predictions)
    if truth.shape != guess.shape:
        raise ValueError(f"{truth.size} labels but {guess.size} predictions")
    return Tally(int(truth.size), int(np.count_nonzero(truth == guess)))
