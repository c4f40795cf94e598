"""PyTorch submissions (zips with model.py) through the library entry point and the CLI: honest
models get the platform's module checks and every ONNX check on the exported graph; hostile zips
end as a failed check with a reason, nothing written outside the private folder. Each case is
bounded by the profile's limits (and pytest's harness), never by a timed assertion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests import zip_builders as zb
from validator import validate
from validator.cli.main import cli
from validator.config import profile_from_mapping
from validator.findings import Status, Verdict
from validator.submission import TORCH_HINT, torch_available

needs_torch = pytest.mark.skipif(not torch_available(), reason="needs the torch extra")
ROOT = Path(__file__).resolve().parents[2]
# Room for torch's import on a busy machine, yet short enough for the endless cases.
PROFILE = profile_from_mapping(
    {"base": "final", "limit_analysis_s": 40, "limit_runtime_s": 120, "threads": 1}
)
MODULE_SELECT = ["load", "runtime", "determinism", "ensemble", "params",
                 "torch-output", "torch-params", "torch-flops", "torch-trainable",
                 "torch-compat", "export"]  # fmt: skip


def _status(report: object, check: str) -> Status:
    finding = report.get(check)  # type: ignore[attr-defined]
    assert finding is not None, check
    return finding.status  # type: ignore[no-any-return]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("plain", {"load": Status.PASS, "torch-output": Status.PASS, "export": Status.PASS,
                   "ensemble": Status.PASS, "runtime": Status.PASS, "torch-params": Status.PASS}),
        ("big", {"torch-params": Status.FAIL, "params": Status.FAIL, "export": Status.PASS}),
        ("ensemble", {"torch-output": Status.PASS, "ensemble": Status.FAIL}),
        ("randomised", {"determinism": Status.WARN, "torch-compat": Status.WARN}),
    ],
)  # fmt: skip
def test_honest_submissions(folder: Path, kind: str, expected: dict[str, Status]) -> None:
    report = validate(zb.submission(folder, kind), PROFILE, select=MODULE_SELECT)
    got = {check: _status(report, check) for check in expected}
    assert got == expected, [f.message for f in report.findings]
    assert report.measurements["module"]["macs_ptflops"] > 0
    assert "[on the exported ONNX graph]" in report.get("runtime").message  # type: ignore[union-attr]


@needs_torch
@pytest.mark.slow
def test_plain_figures_match_ptflops_rules(folder: Path) -> None:
    """AvgPool2d(8) on 3x224x224, Conv 3->8 3x3 (+bias) on 28x28, ReLU, adaptive pool, Linear."""
    report = validate(zb.submission(folder, "plain"), PROFILE, select=MODULE_SELECT)
    conv = 3 * 3 * 3 * 8 * 28 * 28 + 8 * 28 * 28
    expected = 3 * 224 * 224 + conv + 8 * 28 * 28 + 8 * 28 * 28 + 8 * 100 + 100
    assert report.measurements["module"]["macs_ptflops"] == expected
    assert report.measurements["module"]["params_trainable"] == 8 * 3 * 9 + 8 + 8 * 100 + 100


UNPACK_REFUSALS = [
    (zb.zip_slip, "points outside the folder"),
    (zb.absolute_member, "points outside the folder"),
    (zb.symlink_member, "symbolic link"),
    (zb.zip_bomb, "zip bomb"),
    (zb.nested, "cd folder && zip -r ../x.zip *"),
    (zb.not_a_zip, "not a readable zip file"),
]


@needs_torch
@pytest.mark.parametrize(("build", "reason"), UNPACK_REFUSALS)
def test_unsafe_zips_fail_load(folder: Path, build: object, reason: str) -> None:
    report = validate(build(folder), PROFILE)  # type: ignore[operator]
    load = report.get("load")
    assert load is not None and load.status is Status.FAIL and reason in load.message
    assert report.verdict is Verdict.FAIL
    assert not (folder.parent / "escaped.txt").exists()


HOSTILE = [
    ("raises", "RuntimeError: the weights file is missing"),
    ("import-loop", "importing model.py stopped after 40 s"),
    ("read-passwd", "Permission denied: '/etc/passwd'"),
    ("write-outside", "Permission denied"),
    ("network", "Permission denied"),
    ("fork-bomb", "fork refused after"),
]


@needs_torch
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "reason"), HOSTILE)
def test_hostile_code_fails_load(folder: Path, kind: str, reason: str) -> None:
    report = validate(zb.submission(folder, kind), PROFILE, select=["load"])
    load = report.get("load")
    assert load is not None and load.status is Status.FAIL, load
    assert reason in load.message
    assert not Path("/tmp/robust-validate-escape.txt").exists()
    assert report.isolation["confinement"], "the child reported no confinement measures"


@needs_torch
def test_private_folder_is_removed(folder: Path) -> None:
    before = set(Path(tempfile.gettempdir()).glob("robust-validate-zip-*"))
    validate(zb.nested(folder), PROFILE)
    assert set(Path(tempfile.gettempdir()).glob("robust-validate-zip-*")) == before


@needs_torch
@pytest.mark.slow
def test_cli_baseline_zip_checks(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    zip_path = str(ROOT / "reference_data/final/baseline.zip")
    result = CliRunner().invoke(cli, [zip_path, "--checks-only", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["measurements"]["module"]["macs_ptflops"] == 44_519_268
    assert data["measurements"]["macs"]["ptflops"] > 0


def test_zip_without_torch_is_a_usage_error(tmp_path: Path) -> None:
    """With torch hidden from the interpreter, a zip is one line and exit 2."""
    zip_path = zb.submission(tmp_path, "raises")
    hide = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from validator.cli.main import main\n"
        f"main([{str(zip_path)!r}])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert TORCH_HINT in done.stderr.replace("\n", " ") or "robust-validate[torch]" in done.stderr
    assert "Traceback" not in done.stderr
