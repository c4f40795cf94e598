"""``robust-validate attack`` on PyTorch submissions (zips with model.py), through click: the
bundled baseline zip attacked with PGD through its own module, and hostile zips ending as a failed
gate check (one line, exit 1, no traceback). Bounded by the profile's limits, never timed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests import zip_builders as zb
from validator.attack_job import attack_isolated
from validator.cli.attack import attack_command
from validator.config import load_profile
from validator.data.images import load_image
from validator.vocab import ChannelOrder

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "reference_data/final/baseline.zip"
CLEAN = ROOT / "reference_data/final/clean"
SUITE = '[[attack]]\nkind = "pgd-linf"\nbudget = 3\n' \
        '[[attack]]\nkind = "square-linf"\nbudget = 10\n'  # fmt: skip
# Room for torch's import on a busy machine, yet short enough for the endless import.
PROFILE = 'base = "final"\nlimit_analysis_s = 30\nthreads = 1\n'


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    suite, profile = tmp_path / "suite.toml", tmp_path / "profile.toml"
    suite.write_text(SUITE, encoding="utf-8")
    profile.write_text(PROFILE, encoding="utf-8")
    return suite, profile


def _attack(model: Path, out: Path, files: tuple[Path, Path], images: int = 2):  # type: ignore[no-untyped-def]
    suite, profile = files
    args = [str(model), "--data", str(CLEAN), "--out", str(out), "--suite", str(suite),
            "--profile", str(profile), "--max-images", str(images), "-q"]  # fmt: skip
    return CliRunner().invoke(attack_command, args)


def _levels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.mode == "RGB" and image.format == "PNG"
        return np.asarray(image, dtype=np.int16)


def _seen(path: Path) -> np.ndarray:
    """The clean image as the attack saw it: resized by the profile's rule, 8-bit levels."""
    final = load_profile("final")
    tensor = load_image(path, final.input_size, final.resize, ChannelOrder.RGB)
    return np.rint(tensor * 255).astype(np.int16).transpose(1, 2, 0)


@pytest.mark.slow
def test_baseline_zip_pgd_uses_the_module(tmp_path: Path, files: tuple[Path, Path]) -> None:
    out = tmp_path / "out"
    result = _attack(BASELINE, out, files)
    assert result.exit_code == 0, result.output
    assert "white-box gradients: submitted PyTorch module" in result.output
    assert "query the exported ONNX graph" in result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["whitebox_gradients"] == "submitted PyTorch module"
    assert manifest["model"]["file"] == "baseline.zip"
    assert manifest["model"]["kind"] == "pytorch-zip"
    convertible = next(f for f in manifest["findings"] if f["id"] == "convertible")
    assert convertible["status"] == "pass" and "not a conversion" in convertible["message"]
    names = sorted(p.name for p in (out / "clean").glob("*.png"))
    assert len(names) == 2
    for name in names:
        clean = _seen(out / "clean" / name)
        adv = _levels(out / "attacked/pgd-linf" / name)
        assert adv.shape == clean.shape
        assert int(np.abs(adv - clean).max()) <= 8  # eps 8/255: at most 8 levels
    sets = {s["name"]: s for s in manifest["sets"]}
    assert sets["pgd-linf"]["images"] == 2 and sets["square-linf"]["images"] == 2


def test_onnx_attack_names_the_converted_graph(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """The same suite on the ONNX file differentiates its conversion, and says so."""
    out = tmp_path / "out"
    result = _attack(ROOT / "reference_data/final/baseline.onnx", out, files, images=1)
    assert result.exit_code == 0, result.output
    assert "white-box gradients: converted graph" in result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["whitebox_gradients"] == "converted graph"


HOSTILE = [
    ("raises", "RuntimeError: the weights file is missing"),
    ("read-passwd", "Permission denied"),
    pytest.param("import-loop", "importing model.py stopped after 30 s", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("kind", "reason"), HOSTILE)
def test_hostile_zip_fails_the_gate(
    tmp_path: Path, files: tuple[Path, Path], kind: str, reason: str
) -> None:
    out = tmp_path / "out"
    result = _attack(zb.submission(tmp_path, kind), out, files)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert reason in result.output
    lines = [line for line in result.output.splitlines() if reason in line]
    assert len(lines) == 1, result.output
    assert not (out / "manifest.json").exists() and not (out / "attacked").exists()


# Appended to the baseline's model.py: at import, make every white-box attack do nothing (an
# L-infinity ball of radius 0) and forge the manifest writer. Harmless where model.py is only
# imported by the gate child and the gradient server, as now; with the attacks run in the
# process that imported model.py (the design before), the PGD set came out unattacked.
WEAKEN = """
import validator.attacks.whitebox as _whitebox
import validator.attacks.writer as _writer

_run, _write = _whitebox.WhiteBox.run, _writer.write_json

def _weak(self, *args, **kwargs):
    self.eps = 0.0
    return _run(self, *args, **kwargs)

def _forged(path, data, *args, **kwargs):
    if isinstance(data, dict) and isinstance(data.get("sets"), list):
        for entry in data["sets"]:
            entry["correct"] = entry.get("images", 0)
    return _write(path, data, *args, **kwargs)

_whitebox.WhiteBox.run = _weak
_writer.write_json = _forged
"""


def _weakening_zip(folder: Path) -> Path:
    with zipfile.ZipFile(BASELINE) as baseline:
        members = {name: baseline.read(name) for name in baseline.namelist()}
    members["model.py"] = members["model.py"].decode("utf-8") + WEAKEN
    return zb.write_zip(folder / "weaken.zip", members)


@pytest.mark.slow
def test_model_py_cannot_weaken_the_attack(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """PGD at 8/255 leaves none of the 2 images right, as on baseline.onnx, though model.py
    patched the white-box attack and the manifest writer wherever it was imported."""
    out, (suite, profile) = tmp_path / "out", files
    run = attack_isolated(_weakening_zip(tmp_path), CLEAN, out, str(suite), profile, max_images=2)
    assert run.breach is None and not run.gated
    # the module ran only in the confined gradient child, whose measures the report keeps
    assert any("Landlock" in m for m in run.report.isolation["attack_confinement"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["whitebox_gradients"] == "submitted PyTorch module"
    pgd = next(s for s in manifest["sets"] if s["name"] == "pgd-linf")
    assert pgd["params"]["eps"] == pytest.approx(8 / 255)
    assert (pgd["images"], pgd["correct"]) == (2, 0)
    names = sorted(p.name for p in (out / "clean").glob("*.png"))
    moved = [np.abs(_levels(out / "attacked/pgd-linf" / n) - _seen(out / "clean" / n)).max()
             for n in names]  # fmt: skip
    assert len(moved) == 2 and min(moved) > 0 and max(moved) <= 8  # moved, within 8/255
