"""Score-based and decision-based norm-bounded attacks: they succeed on an undefended model,
stay inside their ball and on the 8-bit grid, respect the budget, and are deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_attacks_models import linear_model, query_model, random_images, save
from validator.attacks.base import Attack, eps_levels
from validator.attacks.rays import RaySAttack
from validator.attacks.square import SquareLinf
from validator.attacks.square_l2 import SquareL2

SEEDS = list(range(16))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(linear_model(), tmp_path_factory.mktemp("square"), "plain")


def _norm(attack: Attack, delta: np.ndarray) -> np.ndarray:
    flat = delta.reshape(len(delta), -1).astype(np.float64)
    if attack.params["norm"] == "linf":
        return np.asarray(np.abs(flat).max(axis=1))
    return np.asarray(np.linalg.norm(flat, axis=1))


@pytest.mark.parametrize(
    ("attack", "bound", "least"),
    [
        (SquareLinf(eps=8 / 255, p_init=0.3), 8.0, 0.8),
        (SquareL2(eps=0.5, p_init=0.3), 0.5 * 255, 0.4),
        (RaySAttack(eps=8 / 255), 8.0, 0.4),
    ],
    ids=["square-linf", "square-l2", "rays-linf"],
)
def test_attack_fools_an_undefended_model_inside_its_ball(
    plain: Path, attack: Attack, bound: float, least: float
) -> None:
    model = query_model(plain)
    images = random_images(16)
    labels = model.predict(images)
    result = attack.run(model, images, labels, SEEDS, 300)
    assert result.success.mean() >= least
    assert np.all(_norm(attack, result.images - images) <= bound + 1e-6)
    assert np.array_equal(result.images, np.rint(result.images))  # on the 8-bit grid
    assert result.images.min() >= 0 and result.images.max() <= 255
    assert np.all(result.queries <= 300)
    assert np.array_equal(model.predict(result.images) != labels, result.success)


def test_misclassified_images_are_left_alone(plain: Path) -> None:
    model = query_model(plain)
    images = random_images(4)
    wrong = (model.predict(images) + 1) % 10
    result = SquareLinf().run(model, images, wrong, SEEDS[:4], 100)
    assert result.success.all()
    assert np.array_equal(result.images, images)
    assert np.all(result.queries == 1)


def test_same_seeds_give_the_same_images_whatever_the_batch(plain: Path) -> None:
    model = query_model(plain)
    images = random_images(8)
    labels = model.predict(images)
    attack = SquareLinf(p_init=0.3)
    whole = attack.run(model, images, labels, SEEDS[:8], 60)
    again = attack.run(model, images, labels, SEEDS[:8], 60)
    half = attack.run(model, images[4:], labels[4:], SEEDS[4:8], 60)
    assert np.array_equal(whole.images, again.images)
    assert np.array_equal(whole.images[4:], half.images)
    other = attack.run(model, images, labels, [s + 100 for s in SEEDS[:8]], 60)
    assert not np.array_equal(whole.images, other.images)


@pytest.mark.parametrize(("eps", "levels"), [(8 / 255, 8.0), (0.03, 7.0), (1.0, 255.0)])
def test_eps_is_rounded_down_to_whole_levels(eps: float, levels: float) -> None:
    assert eps_levels(eps) == levels
