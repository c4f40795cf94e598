"""Track 2 through the command line: profiles, data layouts, the F1 and its predictions file,
the score direction, the score-spread warning and ``attack --for detection``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from onnx import helper, numpy_helper

from tests import builders
from tests.track2_builders import data, detector, profile
from validator.cli.main import cli
from validator.resources import reference_set

RED, GREEN, BLUE = builders.RED, builders.GREEN, builders.BLUE
SIZE = builders.COLOUR_SIZE


def run(*args: object) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def score_of(*args: object) -> dict:
    result = run(*args, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["score"]


def independent_f1(csv_path: Path, positive: str = "high") -> float:
    """Best F1 over every distinct score as threshold, straight from the predictions file."""
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    scores = np.array([float(r["score"]) for r in rows]) * (1 if positive == "high" else -1)
    labels = np.array([int(r["label"]) for r in rows])
    best = 0.0
    for t in np.unique(scores):
        flagged = scores >= t
        tp = int(np.sum(flagged & (labels == 1)))
        fp, fn = int(np.sum(flagged & (labels == 0))), int(np.sum(~flagged & (labels == 1)))
        best = max(best, 2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return best


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, Path]:
    red = detector(tmp_path / "red.onnx", (0.0, 0.0, 1.0))
    return red, profile(tmp_path / "p.toml"), data(tmp_path / "d")


def test_scores_f1_with_rates_and_matches_the_predictions_file(
    tiny: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, prof, root = tiny
    predictions = tmp_path / "pred.csv"
    score = score_of(model, "--profile", prof, "--data", root, "--predictions", predictions)
    # Red flagged: clean 1 of 6 (FP), pgd 2 of 2, square 1 of 2 -> TP 3, FP 1, FN 1.
    assert score["f1"] == score["final"] == pytest.approx(0.75)
    assert score["counts"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 5}
    assert (score["precision"], score["recall"]) == (0.75, 0.75)
    assert score["rule"] == "score >= threshold" and score["positive"] == "high"
    assert {
        s["name"]: s.get("detection_rate", s.get("false_positive_rate")) for s in score["sets"]
    } == {"clean": pytest.approx(1 / 6), "pgd": 1.0, "square": 0.5}
    assert {c["family"]: c["false_positive_rate"] for c in score["corruptions"]} == {
        "blur": 0.5,
        "grey": 0.0,
        "none": 0.0,
    }
    low, high = score["f1_interval"]
    assert 0 <= low <= high <= 1
    header = predictions.read_text().splitlines()[0]
    assert header == "image,set,label,score"
    assert independent_f1(predictions) == pytest.approx(score["f1"])


def test_reversed_direction_gives_the_same_f1(
    tiny: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, prof, root = tiny
    clean_probability = detector(tmp_path / "clean.onnx", (0.0, 0.0, -1.0), bias=1.0)
    low = profile(tmp_path / "low.toml", positive="low")
    original = score_of(model, "--profile", prof, "--data", root)
    reversed_ = score_of(clean_probability, "--profile", low, "--data", root)
    assert reversed_["f1"] == pytest.approx(original["f1"])
    assert reversed_["counts"] == original["counts"]
    assert reversed_["rule"] == "score <= threshold"
    wrong_way = score_of(clean_probability, "--profile", prof, "--data", root)
    assert wrong_way["f1"] < original["f1"]


def test_single_set_layout(tiny: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, prof, _ = tiny
    root = builders.colour_set(tmp_path / "one", [RED, GREEN, RED, BLUE], [1, 0, 0, 0])
    score = score_of(model, "--profile", prof, "--data", root)
    assert score["layout"] == "label.txt" and score["f1"] == pytest.approx(2 / 3)


def test_constant_scores_warn_and_fail_under_strict(
    tiny: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, prof, root = tiny
    constant = detector(tmp_path / "c.onnx", (0.0, 0.0, 0.0), bias=0.5)
    report = json.loads(run(constant, "--profile", prof, "--data", root, "--json", "-").stdout)
    spread = next(f for f in report["checks"] if f["id"] == "score-spread")
    assert spread["status"] == "warn" and "all 10 scores are equal" in spread["message"]
    assert report["score"]["f1"] == pytest.approx(2 * 4 / (2 * 4 + 6))  # everything flagged
    assert run(constant, "--profile", prof, "--data", root, "--strict").exit_code == 1


def test_wrong_output_width_fails_the_output_check(tmp_path: Path) -> None:
    model = builders.colour_model(tmp_path / "three.onnx")
    result = run(model, "--profile", profile(tmp_path / "p.toml"), "--data", data(tmp_path / "d"))
    assert result.exit_code == 1
    assert "expected N x 1" in result.output


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--attack", "quick"), "--attack attacks a classifier"),
        (("--data", "missing"), "no such dataset folder"),
    ],
)
def test_usage_errors(tiny: tuple[Path, Path, Path], extra: tuple[str, ...], message: str) -> None:
    model, prof, root = tiny
    args = [model, "--profile", prof, *extra]
    if "--data" not in extra:
        args += ["--data", root]
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


def test_attack_for_detection_writes_a_scorable_track2_set(tmp_path: Path) -> None:
    surrogate = builders.colour_model(tmp_path / "surrogate.onnx")
    colours = [RED, GREEN, BLUE] * 7
    source = builders.colour_set(tmp_path / "src", colours, [0] * len(colours))
    (tmp_path / "suite.toml").write_text(
        'seed = 3\n[[attack]]\nkind = "square-linf"\nbudget = 5\n'
        '[[attack]]\nkind = "patch"\nbudget = 5\n'
    )
    out = tmp_path / "out"
    result = run(
        "attack",
        surrogate,
        "--for",
        "detection",
        "--data",
        source,
        "--out",
        out,
        "--suite",
        tmp_path / "suite.toml",
        "--profile",
        builders.colour_profile(tmp_path / "t.toml"),
    )
    assert result.exit_code == 0, result.output
    assert "(21 images, 9.5% adversarial)" in result.output
    assert sorted(p.name for p in (out / "adversarial").iterdir()) == ["patch", "square-linf"]
    assert len(list((out / "clean").glob("*.png"))) == 19
    assert (out / "clean" / "manifest.csv").read_text().startswith("file,corruption\n")
    assert not (out / ".staging").exists()
    score = score_of(
        detector(tmp_path / "red.onnx", (0.0, 0.0, 1.0)),
        "--profile",
        profile(tmp_path / "p.toml"),
        "--data",
        out,
    )
    assert score["images"] == 21 and score["adversarial"] == 2


REFERENCE = reference_set("track2")
needs_reference = pytest.mark.skipif(
    REFERENCE is None or not (REFERENCE / "baseline.onnx").is_file(),
    reason="the Track 2 reference data is not installed",
)


@needs_reference
def test_bundled_detector_is_checked_and_scored(tmp_path: Path) -> None:
    assert REFERENCE is not None
    model, predictions = REFERENCE / "baseline.onnx", tmp_path / "pred.csv"
    result = run(
        model, "--profile", "track2", "--predictions", predictions, "--json", tmp_path / "r.json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    score = report["score"]
    assert report["verdict"] == "pass" and score["source"] == "reference"
    assert score["f1"] == score["final"] and score["f1"] is not None
    assert 0.05 <= score["prevalence"] <= 0.15
    assert independent_f1(predictions) == pytest.approx(score["f1"])
    recorded = json.loads((REFERENCE / "baseline_train.json").read_text())["reference_score"]
    assert recorded["f1"] == pytest.approx(score["f1"])


@needs_reference
def test_bundled_detector_reversed_scores_the_same(tmp_path: Path) -> None:
    """Wrap the bundled detector as "probability of clean" (1 - p) and say positive = "low"."""
    assert REFERENCE is not None
    proto = onnx.load(str(REFERENCE / "baseline.onnx"))
    graph = proto.graph
    old = graph.output[0].name
    graph.node[-1].output[0] = "attack_probability"
    graph.initializer.append(numpy_helper.from_array(np.array([1.0], np.float32), "one"))
    graph.node.append(helper.make_node("Sub", ["one", "attack_probability"], [old]))
    reversed_model = tmp_path / "clean_probability.onnx"
    onnx.save(proto, reversed_model)
    low = tmp_path / "low.toml"
    low.write_text('base = "track2"\npositive = "low"\n')
    original = score_of(REFERENCE / "baseline.onnx", "--profile", "track2")
    flipped = score_of(reversed_model, "--profile", low)
    assert flipped["f1"] == pytest.approx(original["f1"])
    assert flipped["counts"] == original["counts"]
