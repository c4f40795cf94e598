"""Masking cannot inflate robustness, and is reported: softmax(10000 x logits) gets no better
robust accuracy than the plain model and carries the masking warning; probabilities are read on
a log scale; random models and non-differentiable inputs are flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.unit.masked_variants import masked_variant
from tests.unit.test_attacks_models import (
    linear_model,
    query_model,
    random_images,
    save,
    test_profile,
    write_dataset,
)
from validator.attacks.masking import (
    SignKind,
    comparison_signs,
    input_path_ops,
    output_signs,
    probe_outputs,
)
from validator.attacks.runner import run_suite
from validator.attacks.square import SquareLinf
from validator.attacks.square_l2 import SquareL2
from validator.attacks.suites import suite_from_mapping
from validator.findings import Status

SEEDS = list(range(16))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("masking")
    names = ("none", "softmax", "masked", "masked-opaque", "hardmax", "random", "round")
    return {name: save(linear_model(name), folder, name) for name in names}


def _robust_accuracy(path: Path, attack: SquareLinf | SquareL2, labels: np.ndarray) -> float:
    model = query_model(path)
    result = attack.run(model, random_images(16), labels, SEEDS, 300)
    return float(1.0 - result.success.mean())


@pytest.mark.parametrize(
    "attack", [SquareLinf(eps=8 / 255, p_init=0.3), SquareL2(eps=0.5, p_init=0.3)]
)
@pytest.mark.parametrize("wrap", ["softmax", "masked", "masked-opaque"])
def test_a_softmax_wrapper_gets_no_better_robust_accuracy(
    models: dict[str, Path], wrap: str, attack: SquareLinf | SquareL2
) -> None:
    labels = query_model(models["none"]).predict(random_images(16))
    plain = _robust_accuracy(models["none"], attack, labels)
    wrapped = _robust_accuracy(models[wrap], attack, labels)
    assert wrapped <= plain + 1 / 16  # within one image of 16


def test_a_saturated_model_without_softmax_is_attacked_by_decisions(
    models: dict[str, Path],
) -> None:
    model = query_model(models["hardmax"])
    images = random_images(16)
    labels = model.predict(images)
    result = SquareLinf(eps=8 / 255).run(model, images, labels, SEEDS, 300)
    assert "rays" in result.per_image["method"]
    assert result.success.mean() >= 0.3  # score-based search alone finds nothing here
    assert np.abs(result.images - images).max() <= 8


def test_probabilities_are_attacked_through_their_logarithm(models: dict[str, Path]) -> None:
    images = random_images(16)
    logits_model, probs_model = query_model(models["none"]), query_model(models["softmax"])
    probs_model.tapped = None  # read the probabilities themselves, not the tapped logits
    labels = logits_model.predict(images)
    attack = SquareLinf(eps=8 / 255, p_init=0.3)
    on_logits = attack.run(logits_model, images, labels, SEEDS, 200)
    on_probs = attack.run(probs_model, images, labels, SEEDS, 200)
    assert set(on_probs.per_image["method"]) <= {"square", "clean"}
    assert abs(on_logits.success.mean() - on_probs.success.mean()) <= 1 / 16


@pytest.mark.parametrize(
    ("wrap", "kinds"),
    [
        ("none", set()),
        ("softmax", set()),
        ("masked", {SignKind.SATURATED}),
        ("hardmax", {SignKind.SATURATED}),
        ("random", {SignKind.RANDOM}),
    ],
)
def test_output_probe_flags_masking(
    models: dict[str, Path], wrap: str, kinds: set[SignKind]
) -> None:
    model = query_model(models[wrap])
    signs = output_signs(probe_outputs(model, random_images(16)), tapped=model.tapped is not None)
    assert {s.kind for s in signs} == kinds


def test_a_draw_made_once_per_call_is_found(tmp_path: Path) -> None:
    # One coin per call picks one of two weight sets: three batch calls alone agree 1 time in 4.
    path = tmp_path / "coin.onnx"
    onnx.save(masked_variant("two-weights"), str(path))
    model = query_model(path)
    assert all(probe_outputs(model, random_images(4)).random for _ in range(10))


@pytest.mark.parametrize(
    ("wrap", "ops"), [("none", []), ("round", ["Round"]), ("random", ["RandomUniformLike"])]
)
def test_non_differentiable_operators_on_the_input_path(
    models: dict[str, Path], wrap: str, ops: list[str]
) -> None:
    found = input_path_ops(onnx.load(str(models[wrap])))
    assert [op for _, op in found] == ops


def test_black_box_stronger_than_white_box_is_flagged() -> None:
    rates = [("square-linf", "adversarial", 8 / 255, 0.9), ("pgd-linf", "white-box", 8 / 255, 0.2)]
    assert [s.kind for s in comparison_signs(rates)] == [SignKind.BLACKBOX_STRONGER]
    fair = [("square-linf", "adversarial", 8 / 255, 0.5), ("pgd-linf", "white-box", 8 / 255, 0.9)]
    assert comparison_signs(fair) == []


def test_masked_model_run_carries_the_warning(models: dict[str, Path], tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", models["none"])
    suite = suite_from_mapping(
        {"attack": [{"kind": "square-linf", "budget": 200, "eps": 8 / 255, "p_init": 0.3}]}
    )
    plain = run_suite(models["none"], data, suite, test_profile())
    masked = run_suite(models["masked"], data, suite, test_profile())
    assert plain.findings[0].status is Status.PASS
    warning = masked.findings[0]
    assert warning.id == "masking" and warning.status is Status.WARN
    assert "one-hot" in warning.message
    assert masked.sets[0].correct <= plain.sets[0].correct + 1
