"""Score arithmetic: predictions, pooling, the weighted final, Wilson intervals, chance level."""

from __future__ import annotations

import math

import numpy as np
import pytest

from validator.scoring.arithmetic import (
    NO_PREDICTION,
    Score,
    SetScore,
    Tally,
    chance_bound,
    confidence,
    near_chance,
    predict,
    tally,
    weighted_final,
    wilson_interval,
)


def _score(clean: tuple[int, int], attacked: list[tuple[int, int]], weights=(0.4, 0.6)) -> Score:
    sets = [SetScore("clean", "clean", Tally(clean[1], clean[0]))]
    sets += [SetScore(f"a{i}", "attacked", Tally(n, c)) for i, (c, n) in enumerate(attacked)]
    return Score("data", weights[0], weights[1], tuple(sets))


# clean (correct, images), attacked sets [(correct, images)], weights, attacked acc, final
SCORES = [
    pytest.param((352, 400), [(540, 1200)], (0.4, 0.6), 0.45, 0.622, id="report-example"),
    pytest.param((20, 20), [(10, 10), (0, 30)], (0.4, 0.6), 0.25, 0.55, id="pooled-by-image"),
    pytest.param((1, 2), [(3, 4)], (0.5, 0.5), 0.75, 0.625, id="other-weights"),
    pytest.param((0, 5), [(5, 5)], (0.4, 0.6), 1.0, 0.6, id="clean-all-wrong"),
    pytest.param((7, 7), [(0, 3), (0, 2)], (0.4, 0.6), 0.0, 0.4, id="attacked-all-wrong"),
]


@pytest.mark.parametrize(("clean", "attacked", "weights", "attacked_acc", "final"), SCORES)
def test_final_is_weighted_clean_plus_pooled_attacked(
    clean: tuple[int, int],
    attacked: list[tuple[int, int]],
    weights: tuple[float, float],
    attacked_acc: float,
    final: float,
) -> None:
    score = _score(clean, attacked, weights)
    assert score.pooled("attacked").accuracy == pytest.approx(attacked_acc)
    assert score.final == pytest.approx(final)
    as_dict = score.to_dict()
    assert as_dict["final"] == pytest.approx(final)
    assert as_dict["weights"] == {"clean": weights[0], "attacked": weights[1]}
    assert as_dict["clean"]["accuracy"] == pytest.approx(clean[0] / clean[1])
    assert as_dict["attacked"]["images"] == sum(n for _, n in attacked)
    names = ["clean"] + [f"a{i}" for i in range(len(attacked))]
    assert [s["name"] for s in as_dict["sets"]] == names


@pytest.mark.parametrize(
    ("clean", "attacked"),
    [
        pytest.param((3, 4), [], id="no-attacked-set"),
        pytest.param((3, 4), [(0, 0)], id="attacked-set-all-skipped"),
        pytest.param((0, 0), [(1, 2)], id="clean-set-all-skipped"),
    ],
)
def test_final_is_null_when_a_part_is_missing(
    clean: tuple[int, int], attacked: list[tuple[int, int]]
) -> None:
    as_dict = _score(clean, attacked).to_dict()
    assert as_dict["final"] is None
    missing = "clean" if clean[1] == 0 else "attacked"
    assert as_dict[missing]["accuracy"] is None
    assert as_dict[missing]["interval"] is None


def test_set_entries_carry_the_report_fields() -> None:
    entry = SetScore("fgsm", "attacked", Tally(10, 4), "label.txt", skipped=2).to_dict()
    assert entry["name"] == "fgsm" and entry["kind"] == "attacked"
    assert (entry["images"], entry["correct"], entry["accuracy"]) == (10, 4, 0.4)
    assert entry["skipped"] == 2
    low, high = entry["interval"]
    assert low < 0.4 < high


@pytest.mark.parametrize(
    ("correct", "images", "low", "high"),
    [
        (0, 10, 0.0, 0.277533),  # upper end z^2 / (n + z^2)
        (10, 10, 0.722467, 1.0),  # lower end n / (n + z^2)
        (5, 10, 0.236593, 0.763407),
        (1, 1, 0.206549, 1.0),
        (352, 400, 0.844486, 0.908285),
    ],
)
def test_wilson_interval_matches_closed_form(
    correct: int, images: int, low: float, high: float
) -> None:
    interval = wilson_interval(correct, images)
    assert interval is not None
    assert interval == pytest.approx((low, high), abs=1e-6)


def test_wilson_interval_narrows_with_more_images_and_widens_with_confidence() -> None:
    small, large = wilson_interval(50, 100), wilson_interval(500, 1000)
    wide = wilson_interval(50, 100, level=0.99)
    assert small and large and wide
    assert large[1] - large[0] < small[1] - small[0] < wide[1] - wide[0]


def test_wilson_interval_is_none_without_images_and_rejects_impossible_counts() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@pytest.mark.parametrize(
    ("clean", "attacked", "expected"),
    [(0.9, 0.5, 0.66), (1.0, 1.0, 1.0), (None, 0.5, None), (0.9, None, None)],
)
def test_weighted_final(
    clean: float | None, attacked: float | None, expected: float | None
) -> None:
    assert weighted_final(clean, attacked, 0.4, 0.6) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("images", "classes", "bound"),
    [(10, 2, 9), (1, 2, 1), (100, 100, 4), (0, 100, 0), (5, 1, 5)],
)
def test_chance_bound_is_the_binomial_99_percent_quantile(
    images: int, classes: int, bound: int
) -> None:
    assert chance_bound(images, classes) == bound


def test_near_chance_flags_guessing_but_not_a_working_model() -> None:
    assert near_chance(5, 500, 100)  # exactly the expected guessing count
    assert near_chance(0, 500, 100)  # worse than guessing says nothing either
    assert not near_chance(50, 500, 100)
    assert not near_chance(0, 0, 100)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([[0.1, 2.0, -1.0]], [1]),  # logits
        ([[0.2, 0.3, 0.5]], [2]),  # probabilities
        ([[1.0, 1.0, 0.0]], [0]),  # a tie goes to the lowest index
        ([[-np.inf, -1.0, -np.inf]], [1]),  # log-probabilities may hold -inf
        ([[0.0, np.nan, 5.0]], [NO_PREDICTION]),  # NaN predicts nothing
        ([[0.0, 1.0], [3.0, 2.0]], [1, 0]),
    ],
)
def test_predict_is_argmax_per_row(rows: list[list[float]], expected: list[int]) -> None:
    assert predict(np.array(rows, dtype=np.float32)).tolist() == expected


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([0.1, 0.7, 0.2], 0.7),  # already probabilities: taken as they are
        ([0.0, 0.0], 0.5),  # logits: softmax
        ([1000.0, 0.0], 1.0),  # huge logits do not overflow
        ([np.inf, 0.0, np.inf], 0.5),  # +inf logits share the probability
        ([math.log(3.0), 0.0], 0.75),
    ],
)
def test_confidence_is_probability_of_the_predicted_class(
    row: list[float], expected: float
) -> None:
    assert confidence(np.array([row])) == pytest.approx([expected])


def test_confidence_of_a_nan_row_is_nan() -> None:
    assert np.isnan(confidence(np.array([[np.nan, 1.0]])))[0]


def test_tally_counts_right_answers() -> None:
    assert tally([0, 1, 2, 2], np.array([0, 2, 2, NO_PREDICTION])) == Tally(4, 2)
    assert Tally(3, 1) + Tally(2, 2) == Tally(5, 3)
    with pytest.raises(ValueError):
        tally([0, 1], [0])
