"""Patch and laser attacks: they change only what they claim to change and fool an undefended
model within small budgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_attacks_models import SIZE, linear_model, query_model, random_images, save
from validator.attacks.laser import LaserBeam, wavelength_rgb
from validator.attacks.model_fn import QueryModel, to_input
from validator.attacks.patch import PatchAttack
from validator.inference import Runner
from validator.vocab import ChannelOrder

SEEDS = list(range(8))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(linear_model(), tmp_path_factory.mktemp("patch"), "plain")


def test_patch_changes_one_square_of_the_given_side(plain: Path) -> None:
    model = query_model(plain)
    images = random_images(8)
    labels = model.predict(images)
    result = PatchAttack(size=0.25).run(model, images, labels, SEEDS, 50)
    assert result.success.mean() >= 0.5
    for before, after in zip(images, result.images, strict=True):
        rows, cols = np.nonzero(np.any(before != after, axis=0))
        if len(rows):
            assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 4


def test_laser_fools_and_describes_its_beam(plain: Path) -> None:
    model = query_model(plain)
    images = random_images(8)
    labels = model.predict(images)
    result = LaserBeam().run(model, images, labels, SEEDS, 40)
    assert result.success.mean() >= 0.5
    assert np.all(result.images >= images)  # light only adds
    beam = result.per_image["beam"][0]
    assert 380 <= beam["wavelength_nm"] <= 750 and 0 <= beam["angle_deg"] <= 180


@pytest.mark.parametrize("move_every", [0, 3])  # 0: every step repaints, never moves
@pytest.mark.parametrize("order", list(ChannelOrder))
def test_every_patch_query_is_its_clean_image_with_one_patch_pasted(
    plain: Path, order: ChannelOrder, move_every: int
) -> None:
    """The patch search edits the model's inputs in place and puts rejected pixels back: no
    query may carry a rejected candidate's residue, and each must be encoded bit for bit as
    the loader encodes whole images."""
    runner, seen = Runner(plain, threads=1), []

    def spy(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return runner.run(x)

    images = random_images(8)
    model = QueryModel(spy, order)
    labels = model.predict(images)
    seen.clear()
    result = PatchAttack(size=0.15, move_every=move_every).run(model, images, labels, SEEDS, 60)
    side, encoded = round(0.15 * SIZE), to_input(images, order)
    assert result.queries.max() == 60  # a long search: many rejected candidates
    queried = {row.tobytes() for batch in seen for row in batch}
    assert all(row.tobytes() in queried for row in to_input(result.images, order))
    for batch in seen:
        levels = np.rint(batch * 255)
        levels = levels[:, ::-1] if order is ChannelOrder.BGR else levels
        assert np.array_equal(to_input(levels, order), batch)
        for row in batch:
            changed = np.any(row != encoded, axis=1)  # images x H x W
            image = int(np.argmin(changed.sum(axis=(1, 2))))
            rows, cols = np.nonzero(changed[image])
            if len(rows):
                assert rows.max() - rows.min() < side and cols.max() - cols.min() < side
                inside = np.rint(row[:, rows, cols] * 255)
                assert set(inside.ravel().tolist()) <= {0.0, 255.0}


@pytest.mark.parametrize("batch_size", [32, 7, 2])  # 7: groups of two images' 3 beams
@pytest.mark.parametrize("order", list(ChannelOrder))
def test_every_laser_query_is_a_beamed_image_encoded_as_the_loader_does(
    plain: Path, order: ChannelOrder, batch_size: int
) -> None:
    """The laser renders its candidates straight into the model's input encoding, a group of
    images at a time: each query must be what the loader makes of a beamed image on the 8-bit
    grid, and each returned image one that was queried."""
    runner, seen = Runner(plain, threads=1), []

    def spy(x: np.ndarray) -> np.ndarray:
        assert len(x) <= batch_size
        seen.append(x.copy())
        return runner.run(x)

    images = random_images(5)
    model = QueryModel(spy, order, batch_size=batch_size)
    labels = model.predict(images)
    seen.clear()
    result = LaserBeam(beams=3).run(model, images, labels, SEEDS[:5], 20)
    queried = set()
    for batch in seen:
        levels = np.rint(batch * 255)
        levels = levels[:, ::-1] if order is ChannelOrder.BGR else levels
        assert np.array_equal(to_input(levels, order), batch)
        for row in levels:
            nearest = images[np.argmin(np.abs(images - row).sum(axis=(1, 2, 3)))]
            assert np.all(row >= nearest)  # light only adds
        queried |= {row.tobytes() for row in batch}
    assert all(row.tobytes() in queried for row in to_input(result.images, order))


@pytest.mark.parametrize("attack", [PatchAttack(size=0.25), LaserBeam(beams=3)])
def test_each_image_s_result_does_not_depend_on_the_batch(
    plain: Path, attack: PatchAttack | LaserBeam
) -> None:
    images = random_images(6)
    labels = query_model(plain).predict(images)
    whole = attack.run(query_model(plain), images, labels, SEEDS[:6], 30)
    small = query_model(plain)
    small.batch_size = 2  # several model calls per step
    part = attack.run(small, images[3:], labels[3:], SEEDS[3:6], 30)
    assert np.array_equal(whole.images[3:], part.images)
    assert np.array_equal(whole.queries[3:], part.queries)
    assert np.all(whole.queries <= 30)


@pytest.mark.parametrize(("nm", "channel"), [(450, 2), (530, 1), (650, 0)])
def test_wavelengths_map_to_their_colour(nm: float, channel: int) -> None:
    rgb = wavelength_rgb(np.array([nm]))[0]
    assert int(np.argmax(rgb)) == channel


def _beamed_as_documented(images: np.ndarray, beam: LaserBeam, params: np.ndarray) -> np.ndarray:
    """The beam of the laser module's docstring, pixel by pixel in float64: full light within
    half the width of the line, fading linearly to nothing at the full width, added to the
    image and rounded to the 8-bit grid."""
    out, (h, w) = [], images.shape[-2:]
    each = np.repeat(images, len(params) // len(images), axis=0)
    for image, row in zip(each, params, strict=True):
        nm, theta, offset, width, alpha = (v[0] for v in beam._decode(row[None], h, w))
        ys, xs = np.mgrid[:h, :w] - (np.array([h, w])[:, None, None] - 1) / 2
        distance = np.abs(xs * np.cos(theta) + ys * np.sin(theta) - offset)
        share = np.clip((width - distance) * 2 / width, 0, 1)
        light = alpha * wavelength_rgb(np.array([nm]))[0][:, None, None] * 255 * share
        out.append(np.minimum(np.rint(image + light), 255))
    return np.array(out)


@pytest.mark.parametrize("beams", [1, 3, 11])  # 11: more beams than one rendering pass takes
def test_the_rendered_beam_is_the_documented_one(beams: int) -> None:
    images, params = random_images(5, size=48), np.random.default_rng(beams).random((5 * beams, 5))
    got = LaserBeam().render(images, params, beams)
    expected = _beamed_as_documented(images, LaserBeam(), params)
    assert got.dtype == np.float32
    # float32 distances may land a level apart at a rounding tie, nowhere else
    assert np.abs(got - expected).max() <= 1
    assert np.mean(got != expected) < 1e-3
    assert np.mean(got != np.repeat(images, beams, axis=0)) > 0.05  # the beams are drawn
    one_by_one = [LaserBeam().render(images[i : i + 1], params[i * beams : (i + 1) * beams], beams)
                  for i in range(5)]  # fmt: skip
    assert np.array_equal(got, np.concatenate(one_by_one))
