"""attack_dataset: the written sets are a dataset the scorer reads, byte-identical across runs,
and what was written is exactly what was attacked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_attacks_models import linear_model, save, test_profile, write_dataset
from validator.attacks.model_fn import to_input
from validator.attacks.runner import attack_dataset, run_suite
from validator.attacks.suites import suite_from_mapping
from validator.data.datasets import open_dataset
from validator.data.images import load_image
from validator.errors import DataError
from validator.inference import Runner
from validator.vocab import ChannelOrder, ResizeMode

SUITE = {
    "seed": 4,
    "attack": [
        {"kind": "square-linf", "budget": 60, "eps": 8 / 255, "p_init": 0.3},
        {"kind": "patch", "budget": 30, "size": 0.25},
        {"kind": "laser", "budget": 20},
        {"kind": "corruptions", "names": ["fog", "jpeg-compression"], "severities": [1, 5]},
    ],
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("dataset")
    model = save(linear_model(), folder, "plain")
    return model, write_dataset(folder / "data", model)


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_same_command_twice_gives_byte_identical_sets(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = setup
    suite = suite_from_mapping(SUITE)
    attack_dataset(model, data, tmp_path / "a", suite, test_profile())
    attack_dataset(model, data, tmp_path / "b", suite, test_profile())
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


@pytest.mark.parametrize("batch", [1, 5])
def test_sets_are_byte_identical_whatever_the_batch(
    setup: tuple[Path, Path], tmp_path: Path, batch: int
) -> None:
    model, data = setup
    suite = suite_from_mapping(SUITE)  # 12 images: one chunk by default
    attack_dataset(model, data, tmp_path / "a", suite, test_profile())
    attack_dataset(model, data, tmp_path / "b", suite_from_mapping({**SUITE, "batch": batch}),
                   test_profile())  # fmt: skip
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    attack_dataset(model, data, tmp_path / "c", suite, test_profile(), batch=batch)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "c")


@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_written_sets_score_as_the_attack_measured(
    setup: tuple[Path, Path], tmp_path: Path, order: str
) -> None:
    model, data = setup
    profile = test_profile(order)
    run = attack_dataset(model, data, tmp_path / "out", suite_from_mapping(SUITE), profile)
    dataset = open_dataset(tmp_path / "out", 10)
    assert [s.name for s in dataset.attacked] == sorted(s.name for s in run.sets)
    runner = Runner(model, threads=1)
    for image_set in dataset.attacked:
        manifest = json.loads((image_set.folder / "manifest.json").read_text(encoding="utf-8"))
        tensors = np.stack(
            [
                load_image(s.path, 16, ResizeMode.STRETCH, profile.channel_order)
                for s in image_set.samples
            ]
        )
        wrong = runner.run(tensors).argmax(1) != np.array([s.label for s in image_set.samples])
        assert wrong.tolist() == [r["success"] for r in manifest["images"]]


def test_manifest_records_attack_params_seeds_queries_and_success(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = setup
    attack_dataset(model, data, tmp_path / "out", suite_from_mapping(SUITE), test_profile())
    manifest = json.loads((tmp_path / "out/attacked/square-linf/manifest.json").read_text("utf-8"))
    assert manifest["tool"]["name"] == "robust-validate"
    assert manifest["params"]["eps"] == pytest.approx(8 / 255) and manifest["budget"] == 60
    first = manifest["images"][0]
    assert {"image", "source", "label", "seed", "queries", "success"} <= set(first)
    assert all(0 < r["queries"] <= 60 for r in manifest["images"])
    top = json.loads((tmp_path / "out/manifest.json").read_text("utf-8"))
    assert [s["name"] for s in top["sets"]][:3] == ["square-linf", "patch", "laser"]
    assert (tmp_path / "out/clean/label.txt").read_text("utf-8") == (
        data / "clean/label.txt"
    ).read_text("utf-8")


def test_cycled_corruption_sets_split_the_images(setup: tuple[Path, Path]) -> None:
    model, data = setup
    run = run_suite(model, data, suite_from_mapping(SUITE), test_profile())
    sizes = {s.name: s.images for s in run.sets}
    assert sizes["fog-s1"] + sizes["fog-s5"] == sizes["square-linf"] == 12


def test_every_attack_lowers_accuracy(setup: tuple[Path, Path]) -> None:
    model, data = setup
    run = run_suite(model, data, suite_from_mapping(SUITE), test_profile())
    for outcome in run.sets:
        if outcome.family != "corruption":
            assert outcome.accuracy is not None and outcome.accuracy < 0.7, outcome.name


def test_a_missing_dataset_is_a_clear_error(setup: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = setup
    with pytest.raises(DataError, match="no such dataset folder"):
        run_suite(model, tmp_path / "nowhere", "quick", test_profile())


def test_model_input_matches_the_loader(tmp_path: Path) -> None:
    from validator.attacks.writer import write_png

    levels = np.random.default_rng(3).integers(0, 256, (1, 3, 6, 6)).astype(np.float32)
    write_png(tmp_path / "y.png", levels[0])
    for order in ChannelOrder:
        loaded = load_image(tmp_path / "y.png", 6, ResizeMode.STRETCH, order)
        assert np.array_equal(loaded, to_input(levels, order)[0])
