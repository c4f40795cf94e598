"""Score-based and decision-based norm-bounded attacks: they succeed on an undefended model,
stay inside their ball and on the 8-bit grid, respect the budget, and are deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_attacks_models import linear_model, query_model, random_images, save
from validator.attacks.base import Attack, eps_levels, toward
from validator.attacks.model_fn import QueryModel, to_input
from validator.attacks.rays import RaySAttack
from validator.attacks.search import evaluate
from validator.attacks.square import SquareLinf, SquareState
from validator.attacks.square_l2 import LiveL2, SquareL2
from validator.inference import Runner
from validator.vocab import ChannelOrder

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


@pytest.mark.parametrize("order", list(ChannelOrder))
def test_every_l2_query_is_inside_the_ball_and_the_result_one_that_was_queried(
    plain: Path, order: ChannelOrder
) -> None:
    """The L2 search writes each candidate's windows into the model's input in place (window 2
    emptied, window 1 written over it where they overlap), into its levels only where kept, and
    keeps each image's squared norm as a running sum: a query off the ball or out of step with
    the levels shows here."""
    runner, seen = Runner(plain, threads=1), []

    def spy(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return runner.run(x)

    images, eps = random_images(6), 1.0
    model = QueryModel(spy, order, batch_size=32)
    labels = model.predict(images)
    seen.clear()
    result = SquareL2(eps=eps, p_init=0.8).run(model, images, labels, SEEDS[:6], 120)
    queried = set()
    for batch in seen[1:]:  # after the clean pass
        levels = np.rint(batch * 255)
        levels = levels[:, ::-1] if order is ChannelOrder.BGR else levels
        assert np.array_equal(to_input(levels, order), batch)
        nearest = np.argmin(np.abs(levels[:, None] - images[None]).sum(axis=(2, 3, 4)), axis=1)
        assert np.all(_norm(SquareL2(), levels - images[nearest]) <= eps * 255 + 1e-6)
        queried |= {row.tobytes() for row in batch}
    assert all(row.tobytes() in queried for row in to_input(result.images, order))
    assert len(seen) > 50  # the search ran (p_init 0.8: windows that overlap often)


def test_the_l2_search_s_running_norm_is_the_true_norm(plain: Path) -> None:
    """Each step updates the squared norm from the two windows only (overlap counted once,
    window 1 written last): after many steps it must still be the images' true squared norm."""
    model, images = query_model(plain), random_images(6)
    labels = model.predict(images)
    rng = np.random.default_rng(0)
    start = toward(images, images + rng.normal(0, 4, images.shape))
    margin, fooled = evaluate(model, start, labels)
    n = len(images)
    state = SquareState(images, start, margin, fooled, np.ones(n, np.int64), np.ones(n, np.int64))
    live = LiveL2(model, state, labels, eps=255.0)
    for _ in range(40):
        rows = len(live.rows)
        live.step(rng.random((rows, 5)), rng.choice([-1.0, 1.0], (rows, 3)), 9)  # 9 of 16 px
        true = np.sum((live.best - live.clean).astype(np.float64) ** 2, axis=(1, 2, 3))
        assert np.allclose(live.energy, true, rtol=1e-9, atol=1e-6)
