"""validator.batch pieces on their own: listing a submissions folder, the status of an
evaluation, ranking and the CSV, the atomic store, the fingerprint."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from tests import builders
from validator.batch.fingerprint import Settings, Source, fingerprint
from validator.batch.leaderboard import Outcome, build_rows, leaderboard_csv
from validator.batch.result import Result, classify
from validator.batch.store import CACHE, Store
from validator.batch.submissions import Entry, list_submissions, zip_route
from validator.config import load_profile
from validator.vocab import SubmissionStatus


def _listing(tmp_path: Path) -> dict[str, Entry]:
    subs = tmp_path / "subs"
    subs.mkdir()
    builders.colour_model(subs / "a.onnx")
    (subs / "b.onnx").write_bytes((subs / "a.onnx").read_bytes())
    (subs / "one").mkdir()
    builders.colour_model(subs / "one" / "model.onnx")
    (subs / "one" / "weights.bin").write_bytes(b"w")
    (subs / "two").mkdir()
    for name in ("x.onnx", "y.onnx"):
        builders.colour_model(subs / "two" / name)
    (subs / "linked").mkdir()
    (subs / "linked" / "m.onnx").symlink_to(subs / "a.onnx")
    (subs / "link.onnx").symlink_to(subs / "a.onnx")
    os.mkfifo(subs / "pipe.onnx")
    (subs / ".hidden.onnx").write_bytes(b"x")
    (subs / "readme.md").write_text("hi")
    (subs / "torch.zip").write_bytes(b"PK")
    (subs / "index.html").mkdir()
    return {e.id: e for e in list_submissions(subs)}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a.onnx", None),
        ("b.onnx", None),
        ("one", None),
        ("two", "exactly one .onnx model (2 .onnx files)"),
        ("linked", "holds a symbolic link: m.onnx"),
        ("link.onnx", "a symbolic link"),
        ("pipe.onnx", "not a regular file or folder"),
        (".hidden.onnx", "a hidden entry"),
        ("readme.md", "not a submission"),
        ("torch.zip", zip_route()),  # None (a submission) with the torch extra
        ("index.html", "reserved for the batch's own results"),
    ],
)
def test_each_entry_is_a_submission_or_says_why_not(
    tmp_path: Path, name: str, reason: str | None
) -> None:
    entry = _listing(tmp_path)[name]
    if reason is None:
        assert entry.valid and entry.reason is None and entry.sha256
    else:
        assert not entry.valid and entry.reason is not None and reason in entry.reason


def test_identical_files_share_a_hash_and_a_folder_hash_covers_its_data(tmp_path: Path) -> None:
    entries = _listing(tmp_path)
    assert entries["a.onnx"].sha256 == entries["b.onnx"].sha256
    assert entries["one"].model == tmp_path / "subs" / "one" / "model.onnx"
    before = entries["one"].sha256
    (tmp_path / "subs" / "one" / "weights.bin").write_bytes(b"changed")
    after = {e.id: e for e in list_submissions(tmp_path / "subs")}["one"].sha256
    assert before != after


REPORT = {"checks": [], "isolation": {"breaches": []}}


def _breach(kind: str) -> dict[str, Any]:
    return {"checks": [], "isolation": {"breaches": [{"breach": kind, "reason": f"{kind}!"}]}}


@pytest.mark.parametrize(
    ("code", "stderr", "report", "status", "reason"),
    [
        (0, "", REPORT, SubmissionStatus.OK, ""),
        (1, "", REPORT, SubmissionStatus.OK, ""),  # a failed rule is still an evaluation
        (1, "", _breach("timeout"), SubmissionStatus.TIMEOUT, "timeout!"),
        (1, "", _breach("memory"), SubmissionStatus.MEMORY, "memory!"),
        (1, "", _breach("crash"), SubmissionStatus.ERROR, "crash!"),
        (2, "error: bad data\n", None, SubmissionStatus.ERROR, "error: bad data"),
        (-9, "", None, SubmissionStatus.ERROR, "exit code -9"),
    ],
)
def test_status_of_an_evaluation(
    code: int, stderr: str, report: Any, status: SubmissionStatus, reason: str
) -> None:
    result = classify(code, stderr, report, 1.0)
    assert result.status is status
    assert reason in result.reason


def _scored(final: float | None, verdict: str = "pass") -> dict[str, Any]:
    tally = {"accuracy": final, "interval": [0.1, 0.9] if final is not None else None}
    score = None
    if final is not None:
        score = {"final": final, "clean": tally, "attacked": tally,
                 "weights": {"clean": 0.4, "attacked": 0.6}}  # fmt: skip
    checks = [{"id": "load", "status": "fail" if verdict == "fail" else "pass",
               "severity": "error"}]  # fmt: skip
    return {"verdict": verdict, "checks": checks, "score": score,
            "measurements": {"params": 10, "macs": {"ptflops": 5, "full": 7}}}  # fmt: skip


def _outcome(name: str, final: float | None, verdict: str = "pass", status: str = "ok") -> Outcome:
    entry = Entry(name, Path(name), Path(name), f"sha-{name}")
    result = Result(SubmissionStatus(status), "", 1.0, _scored(final, verdict))
    return Outcome(entry, result)


def test_rank_by_final_among_passing_submissions_with_shared_ties() -> None:
    outcomes = [
        _outcome("c", 0.5), _outcome("a", 0.7), _outcome("b", 0.7), _outcome("d", 0.9, "fail"),
        _outcome("e", 0.95, status="timeout"), _outcome("f", None),
        Outcome(Entry("g.txt", Path("g.txt"), reason="not a submission"), None),
        Outcome(Entry("h", Path("h"), Path("h"), "sha-h"), None),
    ]  # fmt: skip
    rows = build_rows(outcomes, "ptflops")
    assert [(r["id"], r["rank"]) for r in rows] == [
        ("a", 1), ("b", 1), ("c", 3), ("d", None), ("e", None), ("f", None), ("g.txt", None),
        ("h", None),
    ]  # fmt: skip
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["macs"] == 5 and by_id["a"]["params"] == 10
    assert by_id["d"]["failed_checks"] == ["load"]
    assert by_id["g.txt"]["status"] == "invalid" and by_id["h"]["status"] == "pending"
    assert by_id["a"]["final_low"] == pytest.approx(0.1)
    assert by_id["a"]["final_high"] == pytest.approx(0.9)


def test_duplicates_name_the_first_id_and_the_csv_has_every_row() -> None:
    first, second = _outcome("x", 0.5), _outcome("y", 0.5)
    second = Outcome(dataclasses.replace(second.entry, sha256=first.entry.sha256), second.result)
    rows = build_rows([first, second], "ptflops")
    assert [r["duplicate_of"] for r in rows] == [None, "x"]
    lines = leaderboard_csv(rows).splitlines()
    assert lines[0].startswith("rank,id,status,verdict,final")
    assert len(lines) == 3 and lines[2].startswith("1,y,ok,pass,0.5,")


def test_store_keeps_whole_records_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "out")
    result = Result(SubmissionStatus.OK, "", 2.5, {"verdict": "pass"})
    store.record("k1", result, ["a", "b"])
    assert store.cached("k1") == result
    assert (tmp_path / "out" / "b" / "report.json").is_file()
    (tmp_path / "out" / CACHE / "k2.json").write_text('{"status": "ok", "rea')  # killed mid-way
    assert store.cached("k2") is None
    assert store.cached("missing") is None
    assert not list((tmp_path / "out").rglob("*.tmp"))


def _settings(**changes: Any) -> Settings:
    base = Settings(Source("final"), None, None, False, 60.0)
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other"},
        {"listing": "other-data"},
        {"settings": _settings(suite=Source("quick"))},
        {"settings": _settings(checks_only=True)},
        {"profile": "preliminary"},
    ],
)
def test_fingerprint_changes_with_every_input(change: dict[str, Any]) -> None:
    def key(model: str = "m", settings: Settings | None = None, profile: str = "final",
            listing: str = "data") -> str:  # fmt: skip
        return fingerprint(model, settings or _settings(), load_profile(profile), listing)

    assert key() == key()
    assert key(**change) != key()


def test_a_suite_file_is_fingerprinted_by_its_text() -> None:
    assert Source("s.toml", "a = 1").digest() != Source("s.toml", "a = 2").digest()
