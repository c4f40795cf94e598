"""``robust-validate batch`` usage errors: exit status 2 with one line, before any evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import builders
from validator.cli.main import cli


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    subs = tmp_path / "subs"
    subs.mkdir()
    builders.colour_model(subs / "a.onnx")
    return subs, builders.colour_profile(tmp_path / "tiny.toml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}/missing", "--out", "{tmp}/out"], "is not a folder of submissions"),
        (["{subs}", "--out", "{subs}/results"], "is inside the submissions folder"),
        (["{subs}", "--out", "{subs}/a.onnx"], "is inside the submissions folder"),
        (["{subs}", "--out", "{tmp}/tiny.toml"], "exists and is not a folder"),
        (["{subs}", "--out", "{tmp}/out", "--profile", "nope"], "unknown profile"),
        (["{subs}", "--out", "{tmp}/out", "--data", "{tmp}/nodata"], "nodata"),
        (["{subs}", "--out", "{tmp}/out", "--attack", "nope"], "attack suite"),
        (["{subs}", "--out", "{tmp}/out", "--checks-only", "--data", "{tmp}"], "--checks-only"),
        (["{subs}", "--out", "{tmp}/out", "--workers", "0"], "0"),
    ],
)
def test_usage_errors_exit_2_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    subs, profile = _folders(tmp_path)
    filled = [a.format(tmp=tmp_path, subs=subs) for a in args]
    if "--profile" not in filled:
        filled += ["--profile", str(profile)]
    result = CliRunner().invoke(cli, ["batch", *filled])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "leaderboard.json").exists()
