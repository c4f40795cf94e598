"""No file opened outside the paths given, seen by strace (tools/trace_files.py): the bundled
baseline checked and scored, and a model whose external data points outside its folder. Skips
where strace is not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import external_model

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "trace_files.py"
BASELINE = REPO / "reference_data" / "final" / "baseline.onnx"

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def _trace(*command: str) -> subprocess.CompletedProcess[str]:
    validator = [sys.executable, "-m", "validator", *command]
    return subprocess.run(
        [sys.executable, str(TOOL), "--", *validator],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip


def test_checking_and_scoring_the_baseline_opens_nothing_outside(tmp_path: Path) -> None:
    done = _trace(str(BASELINE), "--quiet", "--json", str(tmp_path / "r.json"),
                  "--predictions", str(tmp_path / "p.csv"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 files opened outside the paths given" in done.stdout
    assert (tmp_path / "r.json").is_file() and (tmp_path / "p.csv").is_file()


def test_external_data_outside_the_model_folder_is_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 4096)
    model = external_model(tmp_path / "models", location="../secret.bin")
    done = _trace(str(model), "--checks-only", "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret.bin" not in done.stdout
