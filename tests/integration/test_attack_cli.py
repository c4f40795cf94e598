"""``robust-validate attack`` through click: writes a dataset root, reports, and maps bad input
to exit status 2 with a one-line message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.unit.test_attacks_models import linear_model, save, write_dataset
from validator.cli.attack import attack_command

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


def _attack(inputs: tuple[Path, ...], out: Path, *extra: str, suite: Path | None = None):  # type: ignore[no-untyped-def]
    model, data, profile, default_suite = inputs
    args = [str(model), "--data", str(data), "--out", str(out), "--profile", str(profile),
            "--suite", str(suite or default_suite), *extra]  # fmt: skip
    return CliRunner().invoke(attack_command, args)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_max_images_limits_and_progress_is_printed(
    inputs: tuple[Path, ...], tmp_path: Path
) -> None:
    result = _attack(inputs, tmp_path / "out", "--max-images", "4")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out/attacked/square-linf").glob("*.png"))) == 4
    assert len(list((tmp_path / "out/clean").glob("*.png"))) == 4
    # one line per set when stderr is not a terminal: images done and attack success
    assert "attacking square-linf: 4/4 images, fooled" in result.stderr


def test_existing_out_is_refused_and_overwrite_replaces_it_byte_for_byte(
    inputs: tuple[Path, ...], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _attack(inputs, out).exit_code == 0
    first = _tree(out)
    (out / "attacked/stale-set").mkdir()  # a set an older run left behind
    refused = _attack(inputs, out)
    assert refused.exit_code == 2 and "--overwrite" in refused.stderr
    assert (out / "attacked/stale-set").is_dir()  # nothing touched when refused
    again = _attack(inputs, out, "--overwrite")
    assert again.exit_code == 0, again.output
    assert not (out / "attacked/stale-set").exists()
    assert _tree(out) == first


def test_whitebox_without_torch_leaves_no_folder_and_is_listed(
    inputs: tuple[Path, ...], tmp_path: Path
) -> None:
    try:
        import torch  # noqa: F401

        pytest.skip("torch is installed: white-box attacks run here")
    except ImportError:
        pass
    suite = tmp_path / "wb.toml"
    suite.write_text(SUITE + '[[attack]]\nkind = "pgd-linf"\nbudget = 2\n', encoding="utf-8")
    out = tmp_path / "out"
    result = _attack(inputs, out, suite=suite)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "attacked").iterdir()) == ["contrast-s5", "square-linf"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    skipped = {s["name"]: s["skipped"] for s in manifest["sets"] if s["skipped"]}
    assert list(skipped) == ["pgd-linf"] and "whitebox" in skipped["pgd-linf"]
    assert "skipped pgd-linf" in result.stderr
