"""`robust-validate MODEL [--data DIR]`: checks, then the score table and the JSON score object."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image
from rich.console import Console

from tests import builders
from validator.cli.main import cli
from validator.console import ProgressBars
from validator.pipeline import ScoreOptions, validate

SIZE = 16
RED, GREEN, BLUE, CLASS_OF = builders.RED, builders.GREEN, builders.BLUE, builders.CLASS_OF
SIZE = builders.COLOUR_SIZE
_model, _profile = builders.colour_model, builders.colour_profile
_colour_set, _dataset = builders.colour_set, builders.colour_dataset


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _model(tmp_path / "m.onnx"), _profile(tmp_path / "tiny.toml"), _dataset(tmp_path / "d")


def run(*args: object) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def _json(*args: object) -> dict:
    result = run(*args, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_scores_every_set_and_prints_the_table(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    result = run(model, "--profile", profile, "--data", data)
    assert result.exit_code == 0, result.output
    assert f"score on {data}" in result.output
    for name in ("clean", "blur", "pgd", "attacked (pooled)"):
        assert name in result.output
    assert "0.4 x clean 1.0000 + 0.6 x attacked 0.3333 = 0.6000" in result.output
    assert "score 0.6000" in result.output  # the summary line


def test_json_score_object_follows_the_report_contract(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    score = _json(model, "--profile", profile, "--data", data)["score"]
    assert score["dataset"] == str(data)
    assert score["weights"] == {"clean": 0.4, "attacked": 0.6}
    assert (score["clean"]["images"], score["clean"]["correct"]) == (6, 6)
    assert score["clean"]["accuracy"] == 1.0
    assert (score["attacked"]["images"], score["attacked"]["correct"]) == (6, 2)
    assert score["attacked"]["accuracy"] == pytest.approx(1 / 3)
    assert score["final"] == pytest.approx(0.6)
    assert [(s["name"], s["kind"], s["images"], s["correct"]) for s in score["sets"]] == [
        ("clean", "clean", 6, 6),
        ("blur", "attacked", 4, 2),
        ("pgd", "attacked", 2, 0),
    ]
    for entry in [score["clean"], score["attacked"], *score["sets"]]:
        low, high = entry["interval"]
        assert 0.0 <= low <= entry["accuracy"] <= high <= 1.0
    assert score["skipped"] == []


def test_a_second_run_gives_identical_numbers(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    first = _json(model, "--profile", profile, "--data", data)
    second = _json(model, "--profile", profile, "--data", data)
    assert first["score"] == second["score"]


def test_checks_only_skips_scoring(setup: tuple[Path, Path, Path]) -> None:
    model, profile, _ = setup
    result = run(model, "--profile", profile, "--checks-only", "--json", "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["score"] is None


def test_checks_only_with_data_is_a_usage_error(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    result = run(model, "--profile", profile, "--checks-only", "--data", data)
    assert result.exit_code == 2
    assert "--checks-only" in result.output and "--data" in result.output


def test_without_attacked_sets_attacked_and_final_are_null(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "d", attacked=False)
    report = _json(
        _model(tmp_path / "m.onnx"), "--profile", _profile(tmp_path / "p.toml"), "--data", data
    )
    assert report["score"]["clean"]["accuracy"] == 1.0
    assert report["score"]["attacked"]["accuracy"] is None
    assert report["score"]["final"] is None
    assert any("no attacked set" in note for note in report["notes"])


def _broken_image(data: Path) -> Path:
    (data / "clean" / "01.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return data / "clean" / "01.png"


def _label_out_of_range(data: Path) -> Path:
    (data / "attacked" / "pgd" / "label.txt").write_text("00.png 0\n01.png 7\n")
    return data / "attacked" / "pgd" / "01.png"


def _label_names_missing_file(data: Path) -> Path:
    with (data / "attacked" / "blur" / "label.txt").open("a") as handle:
        handle.write("ghost.png 1\n")
    return data / "attacked" / "blur" / "ghost.png"


def _image_without_label(data: Path) -> Path:
    Image.new("RGB", (5, 5), RED).save(data / "clean" / "stray.png")
    return data / "clean" / "stray.png"


BAD_IMAGES = [_broken_image, _label_out_of_range, _label_names_missing_file, _image_without_label]


@pytest.mark.parametrize("spoil", BAD_IMAGES)
def test_bad_image_exits_2_naming_the_file(setup: tuple[Path, Path, Path], spoil) -> None:
    model, profile, data = setup
    bad = spoil(data)
    result = run(model, "--profile", profile, "--data", data)
    assert result.exit_code == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("error: ") and str(bad) in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("spoil", BAD_IMAGES)
def test_skip_bad_images_counts_and_lists_each_skip(setup: tuple[Path, Path, Path], spoil) -> None:
    model, profile, data = setup
    bad = spoil(data)
    report = _json(model, "--profile", profile, "--data", data, "--skip-bad-images")
    score = report["score"]
    assert [s["path"] for s in score["skipped"]] == [str(bad)]
    assert sum(s["skipped"] for s in score["sets"]) == 1
    assert any("1 bad images skipped" in note for note in report["notes"])


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda data: data / "nowhere", lambda data: data / "nowhere"),
        (lambda data: data / "attacked", lambda data: data / "attacked"),  # no clean/ in it
    ],
    ids=["missing-folder", "no-clean-set"],
)
def test_unreadable_dataset_exits_2_naming_it(setup: tuple[Path, Path, Path], make, named) -> None:
    model, profile, data = setup
    result = run(model, "--profile", profile, "--data", make(data))
    assert result.exit_code == 2
    assert str(named(data)) in result.stderr


def test_predictions_file_has_a_row_per_scored_image(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    out = data.parent / "predictions.csv"
    result = run(model, "--profile", profile, "--data", data, "--predictions", out)
    assert result.exit_code == 0
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    assert rows[0] == {
        "image": "00.png",
        "set": "clean",
        "label": "2",
        "prediction": "2",
        "confidence": rows[0]["confidence"],
    }
    assert {r["set"] for r in rows} == {"clean", "blur", "pgd"}


def test_default_is_the_reference_set_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    _dataset(reference / "final")
    monkeypatch.setenv("ROBUST_VALIDATE_DATA", str(reference))
    report = _json(_model(tmp_path / "m.onnx"), "--profile", _profile(tmp_path / "p.toml"))
    assert report["score"]["dataset"] == "reference_data/final"
    assert report["score"]["source"] == "reference"
    assert report["score"]["final"] == pytest.approx(0.6)
    assert any("bundled reference set" in note for note in report["notes"])


def test_chance_level_on_the_reference_set_says_the_number_is_meaningless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    colours = [RED, GREEN, BLUE] * 10
    _colour_set(reference / "final" / "clean", colours, [i % 3 for i in range(30)])
    monkeypatch.setenv("ROBUST_VALIDATE_DATA", str(reference))
    model = _model(tmp_path / "m.onnx", constant=True)  # always class 0: 10 of 30 right
    report = _json(model, "--profile", _profile(tmp_path / "p.toml"))
    assert report["score"]["clean"]["correct"] == 10
    chance = [note for note in report["notes"] if "chance level" in note]
    assert len(chance) == 1
    assert "means nothing" in chance[0] and "--data DIR" in chance[0]


def test_missing_reference_data_is_a_note_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("ROBUST_VALIDATE_DATA", str(tmp_path / "empty"))
    report = _json(_model(tmp_path / "m.onnx"), "--profile", _profile(tmp_path / "p.toml"))
    assert report["score"] is None
    assert any("no reference data" in note for note in report["notes"])


def test_scoring_does_not_run_when_the_output_check_fails(setup: tuple[Path, Path, Path]) -> None:
    _, profile, data = setup
    model = _model(data.parent / "wide.onnx", classes=5)
    result = run(model, "--profile", profile, "--data", data, "--json", "-")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["score"] is None
    assert any(n.startswith("score skipped: the output check") for n in report["notes"])


def test_library_default_stays_checks_only(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    assert validate(model, profile).score is None
    assert validate(model, profile, score=ScoreOptions(data=data)).score is not None


def test_progress_bars_render_each_set_on_a_terminal(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    buffer = io.StringIO()
    bars = ProgressBars(Console(file=buffer, force_terminal=True, width=100))
    validate(model, profile, score=ScoreOptions(data=data), progress=bars)
    bars.close()
    shown = buffer.getvalue()
    assert "scoring clean" in shown and "scoring pgd" in shown


def test_no_progress_bar_when_output_is_not_a_terminal(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    assert "scoring clean" not in run(model, "--profile", profile, "--data", data).output


def test_scoring_needs_the_runtime_check_selected(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    report = _json(model, "--profile", profile, "--data", data, "--checks", "input,output")
    assert report["score"] is None
    assert any("the runtime check was not selected" in note for note in report["notes"])


def test_set_and_folder_names_are_printed_verbatim(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "[bold]d[/]")
    (data / "attacked" / "pgd").rename(data / "attacked" / "[red]pgd")
    result = run(
        _model(tmp_path / "m.onnx"), "--profile", _profile(tmp_path / "p.toml"), "--data", data
    )
    assert result.exit_code == 0, result.output
    assert f"score on {data}" in result.output
    assert "[red]pgd" in result.output


def test_attack_on_the_fly_adds_self_attacked_sets(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    result = CliRunner().invoke(
        cli,
        [str(model), "--profile", str(profile), "--data", str(data), "--attack", "quick",
         "--json", "-"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # the attack is labelled as such on stderr (never mixed into the JSON on stdout)
    assert "attacking square-linf: 6/6 images, fooled" in result.stderr
    names = {s["name"] for s in report["score"]["sets"]}
    assert {"clean", "blur", "pgd", "self-square-linf"} <= names
    assert {c["id"] for c in report["checks"]} >= {"masking", "convertible"}
    square = next(s for s in report["score"]["sets"] if s["name"] == "self-square-linf")
    assert square["images"] == 6
    own = [s for s in report["score"]["sets"] if s["name"].startswith("self-")]
    # the self-attacked sets join the pooled attacked accuracy that feeds the final score
    assert report["score"]["attacked"]["images"] == 6 + sum(s["images"] for s in own)


def test_unknown_attack_suite_is_a_usage_error(setup: tuple[Path, Path, Path]) -> None:
    model, profile, _ = setup
    result = CliRunner().invoke(cli, [str(model), "--profile", str(profile), "--attack", "quik"])
    assert result.exit_code == 2 and "did you mean 'quick'" in result.output
