"""Safe unpacking of PyTorch submissions (no torch needed): what is refused and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import zip_builders as zb
from validator.submission.unpack import UnpackError, UnpackLimits, unpack

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (zb.zip_slip, "points outside the folder"),
        (zb.absolute_member, "points outside the folder"),
        (zb.symlink_member, "is a symbolic link"),
        (zb.zip_bomb, "a zip bomb?"),
        (zb.nested, "is in the folder 'sub', not at the top"),
        (zb.not_a_zip, "not a readable zip file"),
    ],
)
def test_refused(tmp_path: Path, build: object, reason: str) -> None:
    made = build(tmp_path)  # type: ignore[operator]
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(UnpackError, match=reason.replace("?", r"\?")):
        unpack(made, target)
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (UnpackLimits(max_members=1), "2 members, more than the cap of 1"),
        (UnpackLimits(max_total_bytes=100), "more than the cap of"),
    ],
)
def test_caps(tmp_path: Path, limits: UnpackLimits, reason: str) -> None:
    made = zb.submission(tmp_path, "plain")
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(UnpackError, match=reason):
        unpack(made, target, limits)


def test_plain_unpacks(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    written = unpack(zb.submission(tmp_path, "plain"), target)
    assert sorted(p.name for p in target.iterdir()) == ["model.py", "weights.npz"]
    assert written == sum(p.stat().st_size for p in target.iterdir())


def test_onnx_files_never_import_torch() -> None:
    code = (
        "import sys\n"
        "from validator import validate\n"
        "r = validate('reference_data/final/baseline.onnx', select=['load', 'params'])\n"
        "print(r.verdict.value, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, check=False)  # fmt: skip
    assert done.stdout.split() == ["pass", "False"], done.stderr
