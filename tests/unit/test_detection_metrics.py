"""Best-threshold F1, AUROC and AP against brute-force references on small arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from validator.detection.metrics import (
    auroc,
    average_precision,
    best_f1,
    bootstrap_f1,
    orient,
)
from validator.vocab import ScoreDirection


def brute_f1(scores: list[float], labels: list[int]) -> tuple[float, float] | None:
    """Try every distinct score as the threshold (flag score >= t); best F1, highest t on ties."""
    if sum(labels) == 0:
        return None
    best: tuple[float, float] | None = None
    for t in sorted(set(scores), reverse=True):
        tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and y == 1)
        fp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and y == 0)
        fn = sum(labels) - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if best is None or f1 > best[0]:
            best = (f1, t)
    return best


def brute_auroc(scores: list[float], labels: list[int]) -> float | None:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def brute_ap(scores: list[float], labels: list[int]) -> float | None:
    if sum(labels) == 0:
        return None
    total, previous = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        flagged = [y for s, y in zip(scores, labels, strict=True) if s >= t]
        recall = sum(flagged) / sum(labels)
        total += (recall - previous) * sum(flagged) / len(flagged)
        previous = recall
    return total


EDGE_CASES = {
    "all equal": ([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 1]),
    "tie at the best threshold": ([0.9, 0.7, 0.7, 0.7, 0.2, 0.1], [1, 1, 0, 1, 0, 0]),
    "tie mixing the top": ([0.8, 0.8, 0.3, 0.3], [1, 0, 1, 0]),
    "only positives": ([0.1, 0.4, 0.4], [1, 1, 1]),
    "one positive lowest": ([0.9, 0.8, 0.1], [0, 0, 1]),
    "perfect": ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]),
    "infinities": ([np.inf, 1.0, -np.inf, -np.inf], [1, 0, 1, 0]),
}


@pytest.mark.parametrize("scores, labels", EDGE_CASES.values(), ids=list(EDGE_CASES))
def test_edge_cases_match_brute_force(scores: list[float], labels: list[int]) -> None:
    point = best_f1(np.array(scores), np.array(labels))
    expected = brute_f1(scores, labels)
    assert point is not None and expected is not None
    assert point.f1 == pytest.approx(expected[0])
    assert point.threshold == expected[1]
    assert auroc(np.array(scores), np.array(labels)) == brute_auroc(scores, labels)
    assert average_precision(np.array(scores), np.array(labels)) == pytest.approx(
        brute_ap(scores, labels)
    )


def test_all_equal_means_flag_everything() -> None:
    point = best_f1(np.full(10, 3.0), np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1]))
    assert point is not None
    assert (point.tp, point.fp, point.fn, point.tn) == (2, 8, 0, 0)
    assert point.f1 == pytest.approx(2 * 2 / (2 * 2 + 8))
    assert point.below is None


def test_ties_are_never_split() -> None:
    # Splitting the 0.7 tie (taking only its positive) would give F1 1.0; it must not happen.
    point = best_f1(np.array([0.7, 0.7, 0.1]), np.array([1, 0, 0]))
    assert point is not None
    assert (point.tp, point.fp) == (1, 1)
    assert point.f1 == pytest.approx(2 / 3)
    assert point.below == pytest.approx(0.1)


def test_no_positives_is_undefined() -> None:
    scores, labels = np.array([0.2, 0.9]), np.array([0, 0])
    assert best_f1(scores, labels) is None
    assert auroc(scores, labels) is None
    assert average_precision(scores, labels) is None
    assert bootstrap_f1(scores, labels) is None


def test_only_positives() -> None:
    point = best_f1(np.array([0.1, 0.4, 0.4]), np.array([1, 1, 1]))
    assert point is not None and point.f1 == 1.0 and point.threshold == pytest.approx(0.1)
    assert point.precision == 1.0 and point.recall == 1.0
    assert auroc(np.array([0.1]), np.array([1])) is None


@pytest.mark.parametrize("seed", range(40))
def test_random_small_arrays_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    scores = rng.integers(0, 4, n).astype(float).tolist()  # few values: many ties
    labels = rng.integers(0, 2, n).tolist()
    point = best_f1(np.array(scores), np.array(labels))
    expected = brute_f1(scores, labels)
    if expected is None:
        assert point is None
        return
    assert point is not None
    assert point.f1 == pytest.approx(expected[0]) and point.threshold == expected[1]
    assert auroc(np.array(scores), np.array(labels)) == pytest.approx(brute_auroc(scores, labels))
    assert average_precision(np.array(scores), np.array(labels)) == pytest.approx(
        brute_ap(scores, labels)
    )


def test_exhaustive_tiny_cases() -> None:
    for n in range(1, 5):
        for labels in itertools.product((0, 1), repeat=n):
            for scores in itertools.product((0.0, 1.0, 2.0), repeat=n):
                expected = brute_f1(list(scores), list(labels))
                point = best_f1(np.array(scores), np.array(labels))
                got = None if point is None else (point.f1, point.threshold)
                assert got == (None if expected is None else pytest.approx(expected))


def test_reversed_direction_gives_the_same_f1() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(200) < 0.1).astype(int)
    attack_probability = np.clip(0.3 * labels + rng.random(200) * 0.8, 0, 1)
    clean_probability = 1 - attack_probability
    high = best_f1(orient(attack_probability, ScoreDirection.HIGH), labels)
    low = best_f1(orient(clean_probability, ScoreDirection.LOW), labels)
    assert high is not None and low is not None
    assert high.f1 == pytest.approx(low.f1) and (high.tp, high.fp) == (low.tp, low.fp)


def test_nan_ranks_as_most_clean() -> None:
    oriented = orient(np.array([np.nan, 0.2, 0.9]), ScoreDirection.LOW)
    assert oriented.tolist() == [-np.inf, -0.2, -0.9]


def test_bootstrap_is_seeded_and_brackets_the_f1() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.1).astype(int)
    scores = labels * 0.5 + rng.random(300)
    first = bootstrap_f1(scores, labels, resamples=200, seed=1)
    again = bootstrap_f1(scores, labels, resamples=200, seed=1)
    point = best_f1(scores, labels)
    assert first == again and first is not None and point is not None
    assert first[0] <= point.f1 <= first[1] + 1e-12


def test_mismatched_input_is_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        best_f1(np.array([0.1]), np.array([2]))
    with pytest.raises(ValueError, match="NaN"):
        best_f1(np.array([np.nan]), np.array([1]))
