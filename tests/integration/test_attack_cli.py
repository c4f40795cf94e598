"""``robust-validate attack`` through click: writes a dataset root, reports, and maps bad input
to exit status 2 with a one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.test_attacks_models import linear_model, save, write_dataset
from validator.attack_cli import attack_command

PROFILE = 'base = "final"\nnum_classes = 10\ninput_size = 16\n'
SUITE = '[[attack]]\nkind = "square-linf"\nbudget = 40\np_init = 0.3\n' \
        '[[attack]]\nkind = "corruptions"\nnames = ["contrast"]\nseverities = [5]\n'  # fmt: skip


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    model = save(linear_model(), tmp_path, "model")
    data = write_dataset(tmp_path / "data", model, count=6)
    profile, suite = tmp_path / "tiny.toml", tmp_path / "suite.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    suite.write_text(SUITE, encoding="utf-8")
    return model, data, profile, suite


def test_attack_writes_sets_and_prints_a_summary(inputs: tuple[Path, ...], tmp_path: Path) -> None:
    model, data, profile, suite = inputs
    out = tmp_path / "out"
    args = [str(model), "--data", str(data), "--out", str(out), "--suite", str(suite)]
    result = CliRunner().invoke(attack_command, [*args, "--profile", str(profile)])
    assert result.exit_code == 0, result.output
    assert "square-linf" in result.output and "masking: pass" in result.output
    assert sorted(p.name for p in (out / "attacked").iterdir()) == ["contrast-s5", "square-linf"]
    assert (out / "manifest.json").is_file() and (out / "clean/label.txt").is_file()
    assert len(list((out / "attacked/square-linf").glob("*.png"))) == 6


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--suite": "standrd"}, "did you mean 'standard'"),
        ({"--data": "missing"}, "no such dataset folder"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    inputs: tuple[Path, ...], tmp_path: Path, change: dict[str, str], message: str
) -> None:
    model, data, profile, suite = inputs
    options = {"--data": str(data), "--out": str(tmp_path / "o"), "--suite": str(suite),
               "--profile": str(profile)}  # fmt: skip
    options.update({k: str(tmp_path / v) if k == "--data" else v for k, v in change.items()})
    args = [str(model)] + [item for pair in options.items() for item in pair]
    result = CliRunner().invoke(attack_command, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
