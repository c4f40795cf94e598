"""Masking must not pay: every masked variant of the tiny classifier, attacked with the same
suite on the same images and seeds as the plain model, keeps no more images right (beyond the
paired noise), carries the masking warning, and reports its numbers as upper bounds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.unit.masked_variants import EPS, IMAGES, VARIANTS, masked_variant, paired_suite
from tests.unit.test_attacks_models import linear_model, save, test_profile, write_dataset
from validator.attacks.masking import UPPER_BOUND, random_sources
from validator.attacks.runner import SuiteRun, run_suite
from validator.attacks.square import SquareLinf
from validator.attacks.suites import Entry, Suite
from validator.attacks.whitebox import WhiteBox

# Paired noise, measured with tools/paired_noise.py --seeds 8 (figures in docs/attacks.md): the
# plain model under suite seeds 0-7 on these 12 images keeps 20 to 22 of 36 image-set pairs right
# pooled over the three sets (sd 0.76 images) and 5 of 12 in the worst case per image at every
# seed (sd 0). A variant's run and the plain run are two such runs, so their difference has sd
# sqrt(2) x the plain one; the tolerance is 2 sd of that difference rounded up to whole images,
# and at least one image (8 seeds that never moved bound the chance of a move per run only below
# 3/8, the rule of three).
PLAIN_SD = {"pooled": 0.76, "worst": 0.0}  # images, over 8 suite seeds


def _slack(sd: float, of: int) -> float:
    return max(math.ceil(2 * math.sqrt(2) * sd), 1) / of


SLACK_POOLED = _slack(PLAIN_SD["pooled"], 3 * IMAGES)  # 3 of 36
SLACK_WORST = _slack(PLAIN_SD["worst"], IMAGES)  # 1 of 12


def _suite() -> Suite:
    return paired_suite(0)


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SuiteRun]:
    folder = tmp_path_factory.mktemp("variants")
    plain = save(linear_model(), folder, "plain")
    data = write_dataset(folder / "data", plain, IMAGES)
    return data, run_suite(plain, data, _suite(), test_profile())


def _pooled(run: SuiteRun) -> float:
    done = [o for o in run.attacked if o.images]
    right = sum(o.expected_correct if o.expected_correct is not None else o.correct for o in done)
    return float(right) / max(sum(o.images for o in done), 1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", VARIANTS)
def test_masking_does_not_pay(kind: str, plain_run: tuple[Path, SuiteRun], tmp_path: Path) -> None:
    data, plain = plain_run
    run = run_suite(save(masked_variant(kind), tmp_path, kind), data, _suite(), test_profile())
    assert run.findings[0].id == "masking" and run.findings[0].status.value == "warn"
    assert run.findings[0].message.startswith(UPPER_BOUND)
    assert run.upper_bound
    assert not [(o.name, o.skipped) for o in run.sets if o.skipped]  # white-box ran on each
    assert run.worst_case is not None and plain.worst_case is not None
    assert run.worst_case["accuracy"] <= plain.worst_case["accuracy"] + SLACK_WORST + 1e-9
    assert _pooled(run) <= _pooled(plain) + SLACK_POOLED + 1e-9
    if run.randomized:
        square = run.sets[0]
        assert square.randomized() is not None
        assert square.worst_correct is not None and square.worst_correct <= square.images


def test_random_model_gets_iterations_not_runs(
    plain_run: tuple[Path, SuiteRun], tmp_path: Path
) -> None:
    data, _ = plain_run
    path = save(masked_variant("noise-0.03"), tmp_path, "noise")
    suite = Suite("one", (Entry(SquareLinf(eps=EPS), 20),), seed=0, max_images=4)
    run = run_suite(path, data, suite, test_profile(), out_root=tmp_path / "out")
    manifest = json.loads((tmp_path / "out/attacked/square-linf/manifest.json").read_text())
    for record in manifest["images"]:
        assert record["iterations"] <= 20
        assert record["queries"] >= 8 * record["iterations"]  # every iteration >= 8 runs
        assert 0.0 <= record["p_correct"] <= 1.0
    fooled_early = [r for r in manifest["images"] if r["success"]]
    assert all(r["iterations"] == 20 for r in manifest["images"] if r not in fooled_early)
    assert run.randomized and "randomized" in run.findings[0].message
    assert np.isfinite(run.sets[0].expected_correct or 0.0)


@pytest.mark.parametrize(
    ("kind", "low", "high", "method"),
    [
        ("plain", 1.0, 1.0, "pgd"),  # deterministic: one draw per gradient, no cost
        ("noise-0.03", 4.0, 64.0, "pgd+eot"),  # randomized: adaptive, 4 to 64 draws
    ],
)
def test_white_box_eot_draws_are_recorded_per_image_and_set(
    kind: str, low: float, high: float, method: str, plain_run: tuple[Path, SuiteRun],
    tmp_path: Path,
) -> None:  # fmt: skip
    data, _ = plain_run
    model = linear_model() if kind == "plain" else masked_variant(kind)
    suite = Suite("one", (Entry(WhiteBox(method="pgd", eps=EPS), 3),), seed=0, max_images=4)
    run = run_suite(save(model, tmp_path, kind), data, suite, test_profile(), out_root=tmp_path)
    manifest = json.loads((tmp_path / "attacked/pgd-linf/manifest.json").read_text())
    for record in manifest["images"]:
        assert low <= record["eot_draws"] <= high and record["method"] == method
        assert record["queries"] >= round(3 * record["eot_draws"])
    summary = run.sets[0].to_dict()["eot_draws"]
    assert summary == manifest["eot_draws"] and low <= summary["mean"] <= summary["max"] <= high


@pytest.mark.parametrize(
    ("kind", "ops"),
    [
        ("plain", []),
        ("two-weights", ["RandomUniform"]),  # a coin: not on the input path, reaches the output
        ("noise-0.03", ["RandomNormalLike"]),
        ("argmax-quantise", []),
    ],
)
def test_random_operators_reaching_the_output_are_found(kind: str, ops: list[str]) -> None:
    model = linear_model() if kind == "plain" else masked_variant(kind)
    assert [op for _, op in random_sources(model)] == ops


def test_a_coin_that_lands_the_same_way_in_every_probe_run_is_still_randomized(
    plain_run: tuple[Path, SuiteRun], tmp_path: Path
) -> None:
    """Two weight sets chosen by a coin: the probe's runs agree a quarter of the time (all
    three land alike); here the coin always lands alike, yet the model counts as randomized."""
    data, _ = plain_run
    model = masked_variant("two-weights")
    coin = next(n for n in model.graph.node if n.op_type == "RandomUniform")
    for attribute in coin.attribute:
        if attribute.name == "high":
            attribute.f = 0.1  # always below 0.5: the same weights every run
    suite = Suite("one", (Entry(SquareLinf(eps=EPS), 5),), seed=0, max_images=2)
    run = run_suite(save(model, tmp_path, "coin"), data, suite, test_profile())
    assert run.randomized and "although the probe runs agreed" in run.findings[0].message
