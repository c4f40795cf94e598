"""The scoring engine on real onnxruntime sessions and real image files."""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

import validator.scoring.engine as engine
from validator.config import PROFILES, Profile
from validator.data.datasets import ImageSet, SetKind, list_set, open_dataset
from validator.errors import DataError
from validator.inference import Runner, RuntimeFailure
from validator.scoring.arithmetic import Tally
from validator.scoring.engine import EngineSettings, Prediction, PredictionsCsv, score_sets
from validator.vocab import ChannelOrder

SIZE = 16
PROFILE: Profile = dataclasses.replace(
    PROFILES.get("final"), name="tiny", num_classes=3, input_size=SIZE
)
# Colours and the class the colour model gives them when fed BGR (channel index of the max).
RED, GREEN, BLUE = (230, 20, 20), (20, 230, 20), (20, 20, 230)
BGR_CLASS = {RED: 2, GREEN: 1, BLUE: 0}


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _io(batch: int | str, classes: int = 3) -> tuple[onnx.ValueInfoProto, onnx.ValueInfoProto]:
    return (
        helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, SIZE, SIZE]),
        helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, classes]),
    )


def colour_model(path: Path, batch: int | str = "N", tail: str | None = None) -> Path:
    """Output = mean of each input channel (optionally through ``tail``, e.g. Sqrt of -x)."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat" if tail else "output"]),
    ]
    if tail == "nan":  # sqrt of a negative number
        nodes += [
            helper.make_node("Neg", ["flat"], ["neg"]),
            helper.make_node("Sqrt", ["neg"], ["output"]),
        ]
    graph = helper.make_graph(nodes, "colour", *map(lambda v: [v], _io(batch)))
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def mixing_model(path: Path, batch: int | str = "N", classes: int = 3) -> Path:
    """A small random CNN (conv, relu, pool, dense): every class depends on every pixel."""
    rng = np.random.default_rng(7)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 1.0, (4, classes)).astype(np.float32), "d"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "d"], ["output"]),
    ]
    inp, out = _io(batch, classes)
    graph = helper.make_graph(nodes, "mixing", [inp], [out], weights)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def colour_set(folder: Path, colours: list[tuple[int, int, int]], labels: list[int]) -> Path:
    lines = []
    for i, (colour, label) in enumerate(zip(colours, labels, strict=True)):
        solid(folder / f"{i:03d}.png", colour)
        lines.append(f"{i:03d}.png {label}\n")
    (folder / "label.txt").write_text("".join(lines))
    return folder


def noise_set(folder: Path, count: int, seed: int = 0) -> Path:
    """Noisy images of random sizes around a random colour each, labelled i % 3."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        shape = (int(rng.integers(10, 40)), int(rng.integers(10, 40)), 3)
        pixels = rng.integers(0, 256, 3) + rng.normal(0, 40, shape)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i:03d}.png")
        lines.append(f"{i:03d}.png {i % 3}\n")
    (folder / "label.txt").write_text("".join(lines))
    return folder


def _set(folder: Path, profile: Profile = PROFILE) -> ImageSet:
    return list_set(folder, folder.name, SetKind.CLEAN, profile.num_classes)


def _run(
    model: Path,
    sets: list[ImageSet],
    profile: Profile = PROFILE,
    batch: int = 4,
    skip: bool = False,
) -> tuple[list[engine.SetRun], list[Prediction]]:
    rows: list[Prediction] = []
    settings = EngineSettings(batch_size=batch, skip_bad_images=skip)
    runs = score_sets(Runner(model, threads=1), sets, profile, settings, sink=rows.extend)
    return runs, rows


def test_counts_right_answers_per_set(tmp_path: Path) -> None:
    root = tmp_path / "data"
    colours = [RED, GREEN, BLUE] * 3
    colour_set(root / "clean", colours, [BGR_CLASS[c] for c in colours])
    wrong = [BGR_CLASS[c] for c in colours[:4]]
    colour_set(root / "attacked" / "swap", colours[:4], [2, 0, 0, 1])  # right: 2 of 4
    dataset = open_dataset(root, PROFILE.num_classes)
    runs, rows = _run(colour_model(tmp_path / "m.onnx"), list(dataset.sets))
    assert [(r.image_set.name, r.tally) for r in runs] == [
        ("clean", Tally(9, 9)),
        ("swap", Tally(4, 2)),
    ]
    assert [r.prediction for r in rows[9:]] == wrong
    assert [(r.set_name, r.image) for r in rows[:2]] == [("clean", "000.png"), ("clean", "001.png")]


@pytest.mark.parametrize(
    ("order", "expected"), [(ChannelOrder.BGR, [2, 1, 0]), (ChannelOrder.RGB, [0, 1, 2])]
)
def test_images_are_fed_in_the_profiles_channel_order(
    tmp_path: Path, order: ChannelOrder, expected: list[int]
) -> None:
    profile = dataclasses.replace(PROFILE, channel_order=order)
    folder = colour_set(tmp_path / "clean", [RED, GREEN, BLUE], [0, 0, 0])
    _, rows = _run(colour_model(tmp_path / "m.onnx"), [_set(folder, profile)], profile)
    assert [r.prediction for r in rows] == expected


def _write_mode(path: Path, mode: str) -> None:
    red = Image.new("RGB", (9, 7), RED)
    if mode == "CMYK":
        red.convert("CMYK").save(path.with_suffix(".jpg"), quality=95)
    elif mode == "I;16":
        Image.fromarray(np.full((7, 9), 40000, np.uint16)).save(path)
    elif mode == "P":
        red.convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    else:
        red.convert(mode).save(path)


# mode, expected class: red stays red (class 2 in BGR); grey has three equal channels, so the
# tie goes to the lowest class index (0); RGBA/LA are opaque here, so nothing is composited.
@pytest.mark.parametrize(
    ("mode", "expected"),
    [("RGB", 2), ("RGBA", 2), ("P", 2), ("CMYK", 2), ("L", 0), ("LA", 0), ("I;16", 0)],
)
def test_every_image_mode_is_scored(tmp_path: Path, mode: str, expected: int) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    _write_mode(folder / "img.png", mode)
    name = next(p.name for p in folder.iterdir())
    (folder / "label.txt").write_text(f"{name} {expected}\n")
    runs, rows = _run(colour_model(tmp_path / "m.onnx"), [_set(folder)])
    assert runs[0].tally == Tally(1, 1)
    assert [r.prediction for r in rows] == [expected]


def test_batched_and_image_by_image_give_the_same_predictions(tmp_path: Path) -> None:
    sets = [_set(noise_set(tmp_path / "clean", 11))]
    results = {}
    for name, model, batch in [
        ("batch 1", mixing_model(tmp_path / "n.onnx"), 1),
        ("batch 4", tmp_path / "n.onnx", 4),
        ("batch 16", tmp_path / "n.onnx", 16),
        ("fixed batch 1", mixing_model(tmp_path / "f.onnx", batch=1), 16),
    ]:
        runs, rows = _run(model, sets, batch=batch)
        results[name] = (runs[0].tally, [r.prediction for r in rows], [r.confidence for r in rows])
    reference_tally, reference_predictions, reference_conf = results["batch 1"]
    assert len(set(reference_predictions)) > 1  # the model really discriminates these images
    for tally_, predictions, conf in results.values():
        assert tally_ == reference_tally
        assert predictions == reference_predictions
        np.testing.assert_allclose(conf, reference_conf, rtol=1e-5)


def test_two_runs_give_identical_numbers(tmp_path: Path) -> None:
    sets = [_set(noise_set(tmp_path / "clean", 9))]
    model = mixing_model(tmp_path / "n.onnx")
    first, second = _run(model, sets, batch=4), _run(model, sets, batch=4)
    assert first[0][0].tally == second[0][0].tally
    assert first[1] == second[1]


@pytest.mark.parametrize(
    "content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"]
)
def test_broken_image_stops_scoring_naming_the_file(tmp_path: Path, content: bytes) -> None:
    folder = colour_set(tmp_path / "clean", [RED, GREEN], [2, 1])
    (folder / "001.png").write_bytes(content)
    with pytest.raises(DataError, match="--skip-bad-images") as caught:
        _run(colour_model(tmp_path / "m.onnx"), [_set(folder)])
    assert str(caught.value).startswith(str(folder / "001.png"))


def test_broken_image_is_skipped_counted_and_listed_on_request(tmp_path: Path) -> None:
    folder = colour_set(tmp_path / "clean", [RED, GREEN, BLUE, RED, GREEN], [2, 1, 0, 2, 1])
    (folder / "003.png").write_bytes(b"garbage")
    runs, rows = _run(colour_model(tmp_path / "m.onnx"), [_set(folder)], batch=2, skip=True)
    assert runs[0].tally == Tally(4, 4)
    assert [b.path for b in runs[0].skipped] == [folder / "003.png"]
    assert "cannot decode" in runs[0].skipped[0].reason
    assert "003.png" not in [r.image for r in rows]


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def start(self, set_name: str, total: int) -> None:
        self.events.append(("start", (set_name, total)))

    def advance(self, images: int) -> None:
        self.events.append(("advance", images))

    def finish(self) -> None:
        self.events.append(("finish", None))


def test_progress_reports_every_image_of_every_set(tmp_path: Path) -> None:
    sets = [_set(noise_set(tmp_path / "clean", 7)), _set(noise_set(tmp_path / "pgd", 3))]
    progress = RecordingProgress()
    score_sets(
        Runner(mixing_model(tmp_path / "n.onnx"), 1),
        sets,
        PROFILE,
        EngineSettings(batch_size=3),
        progress,
    )
    assert progress.events == [
        ("start", ("clean", 7)),
        ("advance", 3),
        ("advance", 3),
        ("advance", 1),
        ("finish", None),
        ("start", ("pgd", 3)),
        ("advance", 3),
        ("finish", None),
    ]


def test_decoding_runs_a_bounded_window_ahead_of_inference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[Path] = []
    real_load = engine.load_image

    def counting_load(path: Path, *args: object) -> np.ndarray:
        decoded.append(path)
        return real_load(path, *args)

    runner = Runner(mixing_model(tmp_path / "n.onnx"), 1)
    real_run = runner.run
    decoded_at_each_batch: list[int] = []

    def slow_run(batch: np.ndarray) -> np.ndarray:
        decoded_at_each_batch.append(len(decoded))
        time.sleep(0.01)  # slow inference: unbounded decoding would race far ahead
        return real_run(batch)

    monkeypatch.setattr(engine, "load_image", counting_load)
    monkeypatch.setattr(runner, "run", slow_run)
    batch, workers = 2, 2
    settings = EngineSettings(batch_size=batch, workers=workers)
    score_sets(runner, [_set(noise_set(tmp_path / "clean", 40))], PROFILE, settings)
    assert len(decoded_at_each_batch) == 20
    window = 2 * batch + workers
    for index, started in enumerate(decoded_at_each_batch):
        assert started <= (index + 1) * batch + window


def test_output_of_the_wrong_width_is_a_runtime_failure(tmp_path: Path) -> None:
    profile = dataclasses.replace(PROFILE, num_classes=5)
    folder = colour_set(tmp_path / "clean", [RED], [4])
    with pytest.raises(RuntimeFailure, match="1 x 3 for 1 images"):
        _run(colour_model(tmp_path / "m.onnx"), [_set(folder, profile)], profile)


def test_nan_outputs_count_as_wrong(tmp_path: Path) -> None:
    folder = colour_set(tmp_path / "clean", [RED, GREEN], [2, 1])
    runs, rows = _run(colour_model(tmp_path / "m.onnx", tail="nan"), [_set(folder)])
    assert runs[0].tally == Tally(2, 0)
    assert runs[0].nan_rows == 2
    assert [r.prediction for r in rows] == [-1, -1]


def test_predictions_csv_has_one_row_per_image(tmp_path: Path) -> None:
    folder = colour_set(tmp_path / "clean", [RED, BLUE], [2, 1])
    with PredictionsCsv(tmp_path / "p.csv") as sink:
        score_sets(Runner(colour_model(tmp_path / "m.onnx"), 1), [_set(folder)], PROFILE, sink=sink)
    with (tmp_path / "p.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["image", "set", "label", "prediction", "confidence"]
    assert [r[:4] for r in rows[1:]] == [
        ["000.png", "clean", "2", "2"],
        ["001.png", "clean", "1", "0"],
    ]
    assert all(0.0 < float(r[4]) <= 1.0 for r in rows[1:])
