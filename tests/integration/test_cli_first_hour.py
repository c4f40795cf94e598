"""What a new user meets first, through click: --max-images, --score-anyway, --strict's summary
line, a bare clean folder with --attack, the top-level help and the ``reference`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests import builders
from validator.cli.main import cli
from validator.resources import ENV_VAR


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    model = builders.colour_model(tmp_path / "m.onnx")
    profile = builders.colour_profile(tmp_path / "tiny.toml")
    return model, profile, builders.colour_dataset(tmp_path / "d")


def run(*args: object) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_max_images_scores_the_first_n_of_each_set(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    result = run(model, "--profile", profile, "--data", data, "--max-images", "2", "--json", "-")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(s["name"], s["images"]) for s in report["score"]["sets"]] == [
        ("clean", 2), ("blur", 2), ("pgd", 2)
    ]  # fmt: skip
    assert any("--max-images 2" in note for note in report["notes"])


def _failing_profile(profile: Path) -> Path:
    tight = profile.with_name("tight.toml")
    tight.write_text(profile.read_text(encoding="utf-8") + "max_params = 1\n", encoding="utf-8")
    return tight


def test_a_failed_rule_stops_scoring_unless_score_anyway(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    tight = _failing_profile(profile)
    stopped = run(model, "--profile", tight, "--data", data)
    assert stopped.exit_code == 1
    assert "score skipped: the model fails params" in stopped.output
    assert "--score-anyway" in stopped.output
    scored = run(model, "--profile", tight, "--data", data, "--score-anyway", "--json", "-")
    assert scored.exit_code == 1
    assert json.loads(scored.stdout)["score"]["clean"]["images"] == 6


@pytest.mark.parametrize(("strict", "first_word"), [(False, "PASS"), (True, "FAIL")])
def test_summary_says_fail_whenever_the_exit_status_is_1(
    setup: tuple[Path, Path, Path], strict: bool, first_word: str
) -> None:
    model, profile, _ = setup
    warned = profile.with_name("warned.toml")
    text = profile.read_text(encoding="utf-8") + "max_file_bytes = 10\n"
    warned.write_text(text, encoding="utf-8")
    args = [model, "--profile", warned, "--checks-only", *(["--strict"] if strict else [])]
    result = run(*args)
    assert result.exit_code == (1 if strict else 0)
    assert result.output.splitlines()[-1].startswith(first_word)


def test_check_attack_accepts_a_bare_clean_folder(setup: tuple[Path, Path, Path]) -> None:
    model, profile, data = setup
    result = run(model, "--profile", profile, "--data", data / "clean", "--attack", "quick",
                 "--max-images", "3", "--json", "-")  # fmt: skip
    assert result.exit_code == 0, result.output
    sets = {s["name"]: s["images"] for s in json.loads(result.stdout)["score"]["sets"]}
    assert sets["clean"] == 3 and sets["self-square-linf"] == 3


def test_top_level_help_shows_check_options_and_commands() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for text in ("--data PATH", "--max-images", "--score-anyway", "--html", "attack", "reference"):
        assert text in result.output


def test_reference_prints_the_bundled_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    result = run("reference", "final", "--baseline")
    assert result.exit_code == 0
    assert Path(result.output.strip()).is_file()
    assert result.output.strip().endswith("baseline.onnx")


def test_a_wrong_data_override_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    result = run("reference")
    assert result.exit_code == 2 and f"{ENV_VAR}=" in result.output
