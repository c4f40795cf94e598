"""The attack route's parent side: the exported graph is queried from a copy apart from the
submission's folder (where the module's child may write), never through a link; the attack's
manifest is re-stamped with the zip's name, or refused in one line.

(The attack child writes --out itself now and never imports model.py, so the earlier step that
copied a confined child's staged files to --out, regular files only, is gone with it.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from validator.submission.attack_route import stamp_manifest
from validator.submission.module_job import EXPORT_NAME
from validator.submission.route import exported_graph


def test_the_graph_is_copied_apart_and_removed(tmp_path: Path) -> None:
    (tmp_path / EXPORT_NAME).write_bytes(b"graph")
    with exported_graph(tmp_path) as graph:
        assert graph is not None and graph.read_bytes() == b"graph"
        assert graph.parent != tmp_path and not graph.is_relative_to(tmp_path)
        (tmp_path / EXPORT_NAME).write_bytes(b"rewritten by the module")
        assert graph.read_bytes() == b"graph"
    assert not graph.parent.exists()


@pytest.mark.parametrize("kind", ["missing", "link", "folder"])
def test_no_graph_but_a_regular_file(tmp_path: Path, kind: str) -> None:
    if kind == "link":
        os.symlink("/etc/passwd", tmp_path / EXPORT_NAME)
    elif kind == "folder":
        (tmp_path / EXPORT_NAME).mkdir()
    with exported_graph(tmp_path) as graph:
        assert graph is None


def test_manifest_names_the_zip(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"model": {"file": "model.onnx"}, "sets": []}))
    assert stamp_manifest(path, {"path": "/somewhere/sub.zip", "sha256": "ab"}) is None
    written = json.loads(path.read_text())
    assert written["model"]["file"] == "sub.zip" and written["model"]["kind"] == "pytorch-zip"
    assert written["model"]["sha256"] == "ab" and written["sets"] == []


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", None])
def test_a_bad_manifest_is_one_line(tmp_path: Path, content: bytes | None) -> None:
    source = tmp_path / "manifest.json"
    if content is not None:
        source.write_bytes(content)
    reason = stamp_manifest(source, {"path": "x.zip"})
    assert reason is not None and "no readable manifest.json" in reason and "\n" not in reason
