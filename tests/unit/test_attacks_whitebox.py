"""White-box attacks through the PyTorch rendering of the graph (skipped without torch), and
clean skips when torch is absent or the graph does not convert."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_attacks_models import (
    linear_model,
    query_model,
    random_images,
    save,
    test_profile,
    write_dataset,
)
from validator.attacks.runner import run_suite
from validator.attacks.suites import suite_from_mapping
from validator.attacks.whitebox import EXTRA_HINT, Unavailable, WhiteBox, _checkpoints, load_torch
from validator.findings import Status

SEEDS = list(range(16))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whitebox")


@pytest.mark.parametrize("method", ["pgd", "apgd-ce", "apgd-dlr"])
@pytest.mark.parametrize("wrap", ["none", "masked"])
def test_white_box_attacks_fool_the_model_inside_the_ball(
    folder: Path, method: str, wrap: str
) -> None:
    pytest.importorskip("torch")
    model = query_model(save(linear_model(wrap), folder, wrap))
    images = random_images(16)
    labels = model.predict(images)
    result = WhiteBox(method=method, eps=8 / 255).run(model, images, labels, SEEDS, 10)
    assert result.success.mean() >= 0.8
    assert np.abs(result.images - images).max() <= 8
    assert np.array_equal(model.predict(result.images) != labels, result.success)


def test_without_torch_white_box_sets_are_skipped_with_the_install_hint(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(Unavailable, match="robust-validate\\[whitebox\\]"):
        load_torch()
    model = save(linear_model(), folder, "plain")
    data = write_dataset(tmp_path / "data", model, count=4)
    suite = suite_from_mapping({"attack": [{"kind": "pgd-linf", "budget": 5}]})
    run = run_suite(model, data, suite, test_profile())
    assert run.sets[0].skipped == EXTRA_HINT
    convertible = run.findings[1]
    assert convertible.id == "convertible" and convertible.status is Status.SKIP


def test_a_graph_that_does_not_convert_is_reported(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    proto = linear_model()
    proto.graph.node[-1].op_type = "Softplus"  # runs in onnxruntime, not in the interpreter
    path = save(proto, folder, "odd")
    model = query_model(path)
    images = random_images(2)
    with pytest.raises(Unavailable, match="Softplus") as caught:
        WhiteBox().run(model, images, model.predict(images), SEEDS[:2], 3)
    assert caught.value.convertible is False


@pytest.mark.parametrize(
    ("steps", "checkpoints"),
    [  # the reference code's periods: int(22%), shrinking by int(3%), at least int(6%), >= 1
        (50, {11: 11, 21: 10, 30: 9, 38: 8, 45: 7}),
        (100, {22: 22, 41: 19, 57: 16, 70: 13, 80: 10, 87: 7, 93: 6, 99: 6}),
        (10, {2: 2, **{i: 1 for i in range(3, 11)}}),
        (1, {1: 1}),
    ],
)
def test_apgd_checkpoints_follow_the_reference_schedule(
    steps: int, checkpoints: dict[int, int]
) -> None:
    assert _checkpoints(steps) == checkpoints


@pytest.mark.parametrize(("kind", "scale", "converts"), [
    ("resize-pad", 1.0, True), ("crop", 1.0, True), ("noise-0.03", 1.0, True),
    ("resize-pad", 1.01, False), ("crop", 0.99, False), ("noise-0.03", 0.5, False),
])  # fmt: skip
def test_a_random_models_conversion_is_judged_by_its_expected_outputs(
    folder: Path, monkeypatch: pytest.MonkeyPatch, kind: str, scale: float, converts: bool
) -> None:
    # Random resize-and-pad has nearly flat expected outputs on these images: comparing the top
    # class of two 8-run averages refused its faithful conversion about half the time. With
    # every draw fixed at its mean, a 1% error is found and a faithful rendering always passes.
    pytest.importorskip("torch")
    from tests.unit.masked_variants import masked_variant
    from validator.attacks import torch_graph
    from validator.attacks.whitebox import convert

    call = torch_graph.TorchGraph.__call__
    monkeypatch.setattr(
        torch_graph.TorchGraph, "__call__", lambda s, x, o=None: call(s, x, o) * scale
    )
    for _ in range(4):  # a fresh model each time: no cached conversion
        model = query_model(save(masked_variant(kind), folder, kind))
        model.make_random(8)
        if converts:
            assert convert(model, random_images(8)).module is not None
        else:
            with pytest.raises(Unavailable, match="every draw fixed at its mean"):
                convert(model, random_images(8))
