"""Masking must not pay: every masked variant of the tiny classifier, attacked with the same
suite on the same images and seeds as the plain model, keeps no more images right (beyond the
paired noise), carries the masking warning, and reports its numbers as upper bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.masked_variants import VARIANTS, masked_variant
from tests.unit.test_attacks_models import linear_model, save, test_profile, write_dataset
from validator.attacks.masking import UPPER_BOUND
from validator.attacks.runner import SuiteRun, run_suite
from validator.attacks.square import SquareLinf
from validator.attacks.suites import Entry, Suite
from validator.attacks.whitebox import WhiteBox

IMAGES = 12
EPS = 2 / 255
# Paired noise: a variant and the plain model see the same images and seeds, so the
# difference of their accuracies is a mean of 12 paired differences in {-1, 0, 1}. With ~20% of
# pairs discordant its 95% half-width is about 1.96 * sqrt(0.2 / 12) = 0.25, i.e. 3 images.
SLACK = 3 / IMAGES


def _suite() -> Suite:
    return Suite(
        "paired",
        (
            Entry(SquareLinf(eps=EPS), 60),
            Entry(WhiteBox(method="pgd", eps=EPS), 10),
            Entry(WhiteBox("apgd-ce", method="apgd-ce", eps=EPS), 10),
        ),
        seed=0,
    )


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
    assert run.worst_case is not None and plain.worst_case is not None
    assert run.worst_case["accuracy"] <= plain.worst_case["accuracy"] + SLACK
    assert _pooled(run) <= _pooled(plain) + SLACK
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
    import json

    manifest = json.loads((tmp_path / "out/attacked/square-linf/manifest.json").read_text())
    for record in manifest["images"]:
        assert record["iterations"] <= 20
        assert record["queries"] >= 8 * record["iterations"]  # every iteration >= 8 runs
        assert 0.0 <= record["p_correct"] <= 1.0
    fooled_early = [r for r in manifest["images"] if r["success"]]
    assert all(r["iterations"] == 20 for r in manifest["images"] if r not in fooled_early)
    assert run.randomized and "randomized" in run.findings[0].message
    assert np.isfinite(run.sets[0].expected_correct or 0.0)
