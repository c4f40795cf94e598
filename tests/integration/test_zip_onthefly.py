"""The main command's on-the-fly attacks on PyTorch submissions (``robust-validate x.zip
--attack SUITE``) and ``attack x.zip --for detection``, through click: white-box gradients come
from the submitted module, held by a confined child apart from the scoring process, and the
report says so; a module that turns hostile under the attack ends as a skipped set with the
reason, never a traceback. Bounded by the profile's limits, never timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import zip_builders as zb
from validator.cli.main import cli
from validator.submission.route import WHITEBOX_NOTE

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "reference_data/final/baseline.zip"
CLEAN = ROOT / "reference_data/final/clean"
SUITE = '[[attack]]\nkind = "pgd-linf"\nbudget = 2\n'
PROFILE = 'base = "final"\nlimit_analysis_s = 60\nthreads = 1\n'
MODULE = "submitted PyTorch module"
# The plain CNN, turned hostile only when an attack asks for a gradient: it then reads a file
# outside its folder (Landlock refuses it in the gradient child as in the import child).
GRADIENT_THIEF = zb.PLAIN_CNN.replace(
    "    def forward(self, x):\n",
    "    def forward(self, x):\n        if x.requires_grad:\n"
    "            open('/etc/passwd').read()\n",
)


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    suite, profile = tmp_path / "suite.toml", tmp_path / "profile.toml"
    suite.write_text(SUITE, encoding="utf-8")
    profile.write_text(PROFILE, encoding="utf-8")
    return suite, profile


def _check(model: Path, files: tuple[Path, Path], *extra: str):  # type: ignore[no-untyped-def]
    suite, profile = files
    args = [str(model), "--data", str(CLEAN), "--attack", str(suite), "--max-images", "2",
            "--profile", str(profile), *extra]  # fmt: skip
    return CliRunner().invoke(cli, args)


def test_zip_attack_on_the_fly_uses_the_module(tmp_path: Path, files: tuple[Path, Path]) -> None:
    json_path, html_path = tmp_path / "r.json", tmp_path / "r.html"
    result = _check(BASELINE, files, "--json", str(json_path), "--html", str(html_path))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"white-box gradients: {MODULE}" in result.output  # the score table's caption
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["score"]["whitebox_gradients"] == MODULE
    assert report["measurements"]["whitebox_gradients"] == MODULE
    sets = {s["name"]: s for s in report["score"]["sets"]}
    assert sets["self-pgd-linf"]["images"] == 2
    convertible = next(c for c in report["checks"] if c["id"] == "convertible")
    assert convertible["status"] == "pass"
    assert "not a conversion" in convertible["message"]
    assert "confined child" in convertible["message"]
    assert any("Landlock" in m for m in report["isolation"]["attack_confinement"])
    assert WHITEBOX_NOTE in report["notes"]
    html = html_path.read_text(encoding="utf-8")
    assert f'<p id="whitebox-gradients">white-box gradients: {MODULE}</p>' in html


def test_onnx_attack_on_the_fly_names_the_conversion(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    json_path = tmp_path / "r.json"
    model = ROOT / "reference_data/final/baseline.onnx"
    result = _check(model, files, "-q", "--json", str(json_path))
    assert result.exit_code == 0, result.output
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["score"]["whitebox_gradients"] == "converted graph"
    assert "attack_confinement" not in report["isolation"]


def test_zip_without_attack_has_no_gradient_note(files: tuple[Path, Path]) -> None:
    _suite, profile = files
    args = [str(BASELINE), "--data", str(CLEAN.parent), "--max-images", "2", "--profile",
            str(profile), "-q", "--json", "-"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert WHITEBOX_NOTE not in report["notes"]
    assert "whitebox_gradients" not in report["score"]


def test_module_hostile_under_attack_skips_the_set(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    members = {
        "model.py": GRADIENT_THIEF.replace("NUM", "100"),
        "weights.npz": zb.plain_weights(100),
    }
    model = zb.write_zip(tmp_path / "thief.zip", members)
    json_path = tmp_path / "r.json"
    result = _check(model, files, "-q", "--json", str(json_path), "--score-anyway")
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    report = json.loads(json_path.read_text(encoding="utf-8"))
    convertible = next(c for c in report["checks"] if c["id"] == "convertible")
    assert convertible["status"] == "warn"  # a warning-severity check that did not pass
    assert "Permission denied" in convertible["message"]
    assert "self-pgd-linf" not in {s["name"] for s in report["score"]["sets"]}
    skipped = [n for n in report["notes"] if n.startswith("attack set self-pgd-linf skipped")]
    assert len(skipped) == 1 and "the submitted module" in skipped[0]


def test_detection_set_from_a_zip(tmp_path: Path, files: tuple[Path, Path]) -> None:
    suite, profile = files
    data = tmp_path / "images"
    data.mkdir()
    for source in sorted(CLEAN.glob("*.png"))[:4]:
        (data / source.name).write_bytes(source.read_bytes())
    out = tmp_path / "out"
    args = ["attack", str(BASELINE), "--for", "detection", "--data", str(data), "--out",
            str(out), "--suite", str(suite), "--profile", str(profile)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"white-box gradients: {MODULE}" in result.output
    assert len(list((out / "adversarial/pgd-linf").glob("*.png"))) == 1
    assert len(list((out / "clean").glob("*.png"))) == 3
