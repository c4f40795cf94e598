"""The attack route's parent side: what the confined child left under its folder reaches --out
as regular files only, and its manifest is re-stamped with the zip's name or refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from validator.submission.attack_route import _publish, _stamp_manifest


@pytest.fixture()
def stage(tmp_path: Path) -> Path:
    stage = tmp_path / "stage"
    (stage / "attacked/pgd-linf").mkdir(parents=True)
    (stage / "attacked/.square.partial").mkdir()
    (stage / "attacked/.square.partial/a.png").write_bytes(b"partial")
    (stage / "attacked/pgd-linf/a.png").write_bytes(b"png")
    (stage / "clean").mkdir()
    (stage / "clean/a.png").write_bytes(b"clean")
    os.symlink("/etc/passwd", stage / "attacked/pgd-linf/passwd.png")
    os.mkfifo(stage / "attacked/pgd-linf/fifo.png")
    (stage / "manifest.json").write_text(json.dumps({"model": {"file": "x.onnx"}, "sets": []}))
    return stage


@pytest.mark.parametrize("skip_clean", [False, True])
def test_only_regular_files_are_published(stage: Path, tmp_path: Path, skip_clean: bool) -> None:
    out = tmp_path / "out"
    _publish(stage, out, skip_clean=skip_clean)
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())
    expected = ["attacked/pgd-linf/a.png"] + ([] if skip_clean else ["clean/a.png"])
    assert found == expected
    assert not any(p.is_symlink() for p in out.rglob("*"))


def test_manifest_names_the_zip(stage: Path, tmp_path: Path) -> None:
    model = {"path": "/somewhere/sub.zip", "sha256": "ab"}
    assert _stamp_manifest(stage / "manifest.json", tmp_path, model) is None
    written = json.loads((tmp_path / "manifest.json").read_text())
    assert written["model"]["file"] == "sub.zip" and written["model"]["kind"] == "pytorch-zip"


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", None])
def test_a_bad_manifest_is_one_line(tmp_path: Path, content: bytes | None) -> None:
    source = tmp_path / "manifest.json"
    if content is not None:
        source.write_bytes(content)
    reason = _stamp_manifest(source, tmp_path / "out", {"path": "x.zip"})
    assert reason is not None and "no readable manifest.json" in reason
