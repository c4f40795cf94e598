"""Scoring attacked sets written by ``robust-validate attack``: their manifests' masking
evidence makes the score an upper bound in the terminal, JSON and HTML, as an on-the-fly attack
does; sets made against another model are named transfer attacks; a malformed manifest is a
one-line warning, never a traceback."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.unit.masked_variants import masked_variant
from tests.unit.test_attacks_models import linear_model, save, write_dataset
from validator.attacks.masking import UPPER_BOUND
from validator.cli import cli
from validator.cli.attack import attack_command

PROFILE = 'base = "final"\nnum_classes = 10\ninput_size = 16\n'
SUITE = '[[attack]]\nkind = "square-linf"\nbudget = 20\n' \
        '[[attack]]\nkind = "pgd-linf"\nbudget = 3\neps = 0.0078431\n'  # fmt: skip


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sets made by ``attack`` against a randomized model (input noise)."""
    root = tmp_path_factory.mktemp("manifests")
    plain = save(linear_model(), root, "plain")
    noisy = save(masked_variant("noise-0.03"), root, "noisy")
    data = write_dataset(root / "data", plain, count=6)
    profile, suite = root / "tiny.toml", root / "suite.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    suite.write_text(SUITE, encoding="utf-8")
    out = root / "out"
    args = [str(noisy), "--data", str(data), "--out", str(out), "--suite", str(suite),
            "--profile", str(profile)]  # fmt: skip
    result = CliRunner().invoke(attack_command, args)
    assert result.exit_code == 0, result.output
    return {"plain": plain, "noisy": noisy, "out": out, "profile": profile, "root": root}


def _score(paths: dict[str, Path], model: str, data: Path) -> tuple[Any, dict[str, Any], str]:
    report, html = paths["root"] / f"{model}.json", paths["root"] / f"{model}.html"
    args = [str(paths[model]), "--profile", str(paths["profile"]), "--data", str(data),
            "--json", str(report), "--html", str(html)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert "Traceback" not in result.output
    return result, json.loads(report.read_text()), html.read_text(encoding="utf-8")


def _finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check)


def test_the_manifests_masking_evidence_makes_the_score_an_upper_bound(
    attacked: dict[str, Path],
) -> None:
    result, report, html = _score(attacked, "noisy", attacked["out"])
    assert result.exit_code == 0, result.output
    assert report["score"]["bound"] == "upper"
    assert report["score"]["bound_note"].startswith(UPPER_BOUND)
    assert "recorded in the attack manifest" in report["score"]["bound_note"]
    assert _finding(report, "masking")["status"] == "warn"
    assert _finding(report, "attack-manifest")["status"] == "pass"
    assert report["score"]["attack_manifest"]["same_model"] is True
    assert "(upper bound)" in result.output and 'id="bound"' in html
    if importlib.util.find_spec("torch") is not None:  # the white-box set ran: EOT draws
        assert report["score"]["attack_manifest"]["eot_draws"]["pgd-linf"]["mean"] >= 4


def test_sets_made_against_another_model_are_named_transfer_attacks(
    attacked: dict[str, Path],
) -> None:
    result, report, _ = _score(attacked, "plain", attacked["out"])
    assert result.exit_code == 0, result.output
    provenance = _finding(report, "attack-manifest")
    assert provenance["status"] == "warn" and "transfer attacks" in provenance["message"]
    assert report["score"]["attack_manifest"]["same_model"] is False
    assert "transfer attacks" in result.output
    assert report["score"]["bound"] == "upper"  # the manifest's evidence still stands


def test_a_malformed_manifest_is_a_one_line_warning(
    attacked: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(attacked["out"], copy)
    (copy / "manifest.json").write_text('{"tool": {"name": "robust-validate"}, "model": 3}')
    for manifest in (copy / "attacked").glob("*/manifest.json"):
        manifest.write_text("{broken")
    result, report, _ = _score(attacked, "noisy", copy)
    assert result.exit_code == 0, result.output
    provenance = _finding(report, "attack-manifest")
    assert provenance["status"] == "warn" and "\n" not in provenance["message"]
    assert "model is not a JSON object" in provenance["message"]
    assert f"(and {len(list((copy / 'attacked').iterdir()))} more)" in provenance["message"]
    assert report["score"].get("bound") is None  # evidence that cannot be read is none
