"""``robust-validate batch`` end to end on a dozen submissions (tests/integration/
batch_entries.py) under a tight profile: every row with the right status and verdict, a second
run that evaluates nothing, Ray giving the local leaderboard, and a run stopped half-way that
resumes to the same leaderboard. Each command is bounded by the harness (a subprocess timeout),
never by a timed assertion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import builders
from tests.browser import open_page
from tests.integration.batch_entries import DISTINCT, EXPECTED, FAILED_CHECK, build
from validator.batch.leaderboard import without_timing
from validator.batch.store import CACHE
from validator.batch.submissions import zip_route

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def batch(*args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "validator", "batch", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=ENV)


def board(results: Path) -> dict[str, Any]:
    return without_timing(json.loads((results / "leaderboard.json").read_text()))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    root = tmp_path_factory.mktemp("batch")
    subs, profile, data = build(root)
    return root, subs, profile, data


@pytest.fixture(scope="module")
def local(inputs: tuple[Path, ...]) -> Path:
    root, subs, profile, data = inputs
    done = batch(subs, "--out", root / "local", "--profile", profile, "--data", data,
                 "--workers", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return root / "local"


pytestmark = pytest.mark.slow


def test_every_entry_has_a_row_with_its_status_and_verdict(local: Path) -> None:
    rows = {r["id"]: r for r in board(local)["rows"]}
    assert {i: (r["status"], r["verdict"]) for i, r in rows.items()} == EXPECTED
    for entry, check in FAILED_CHECK.items():
        assert check in rows[entry]["failed_checks"], rows[entry]
    assert "onnxruntime run stopped after 6 s" in rows["hang.onnx"]["reason"]
    assert "3 GB memory limit" in rows["bomb.onnx"]["reason"]
    if zip_route() is not None:  # without the torch extra, zips say what to install
        assert rows["pytorch.zip"]["reason"] == zip_route()
        assert "pip install 'robust-validate[torch]'" in rows["pytorch.zip"]["reason"]
    # colour_dataset: the colour model scores 0.6; the constant one (always class 0) gets
    # clean 2/6 and attacked 3/6
    assert rows["alpha.onnx"]["final"] == pytest.approx(builders.FINAL)
    assert rows["gamma.onnx"]["final"] == pytest.approx(0.4 / 3 + 0.6 * 0.5)
    ranks = {i: r["rank"] for i, r in rows.items() if r["rank"] is not None}
    assert ranks == {"alpha.onnx": 1, "alpha-copy.onnx": 1, "beta.onnx": 1, "folder-model": 1,
                     "gamma.onnx": 5}  # fmt: skip
    # the first id in name order is the one evaluated ('-' sorts before '.')
    assert rows["alpha.onnx"]["duplicate_of"] == "alpha-copy.onnx"
    assert rows["alpha-copy.onnx"]["duplicate_of"] is None
    assert rows["alpha-copy.onnx"]["sha256"] == rows["alpha.onnx"]["sha256"]


def test_each_submission_has_its_report_and_the_csv_every_row(local: Path) -> None:
    for entry, (status, _) in EXPECTED.items():
        report = local / entry / "report.json"
        assert report.is_file() == (status != "invalid"), entry
    alpha = json.loads((local / "alpha.onnx" / "report.json").read_text())
    assert alpha["verdict"] == "pass" and alpha["score"]["final"] == pytest.approx(0.6)
    lines = (local / "leaderboard.csv").read_text().splitlines()
    assert len(lines) == 1 + len(EXPECTED)
    assert (local / "index.html").is_file()
    # the duplicate was evaluated once: one cache record per distinct evaluation
    assert len(list((local / CACHE).glob("*.json"))) == DISTINCT


def test_a_second_run_evaluates_nothing(inputs: tuple[Path, ...], local: Path) -> None:
    _, subs, profile, data = inputs
    before = {p.name: p.stat().st_mtime_ns for p in (local / CACHE).glob("*.json")}
    first = board(local)
    done = batch(subs, "--out", local, "--profile", profile, "--data", data)
    assert done.returncode == 0, done.stderr
    assert f"0 evaluated, {DISTINCT} reused" in done.stdout
    assert {p.name: p.stat().st_mtime_ns for p in (local / CACHE).glob("*.json")} == before
    assert board(local) == first


def test_ray_gives_the_local_leaderboard(inputs: tuple[Path, ...], local: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install .[cluster])")
    root, subs, profile, data = inputs
    done = batch(subs, "--out", root / "ray", "--profile", profile, "--data", data, "--ray")
    assert done.returncode == 0, done.stderr
    assert f"{DISTINCT} evaluated" in done.stdout
    assert board(root / "ray") == board(local)


def _in_flight(marker: str) -> list[str]:
    """Command lines of processes still running a check on the test's files."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in line and " check " in line:
            found.append(line)
    return found


def test_a_stopped_run_resumes_to_the_same_leaderboard(
    inputs: tuple[Path, ...], local: Path
) -> None:
    root, subs, profile, data = inputs
    out = root / "stopped"
    command = [sys.executable, "-m", "validator", "batch", str(subs), "--out", str(out),
               "--profile", str(profile), "--data", str(data)]  # fmt: skip
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(1200):  # the harness bound: 10 minutes of polling
            if len(list((out / CACHE).glob("*.json"))) >= 4 or process.poll() is not None:
                break
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130
    halfway = json.loads((out / "leaderboard.json").read_text())
    assert not halfway["complete"] and halfway["counts"]["pending"] > 0
    assert _in_flight(str(subs)) == []  # nothing left running
    done = batch(subs, "--out", out, "--profile", profile, "--data", data, "--workers", "2")
    assert done.returncode == 0, done.stderr
    reused = int(done.stdout.split(" reused")[0].rsplit(" ", 1)[-1])
    assert 4 <= reused < DISTINCT
    assert board(out) == board(local)


def test_a_changed_submission_is_evaluated_again(tmp_path: Path) -> None:
    subs, data = tmp_path / "subs", builders.colour_dataset(tmp_path / "data")
    subs.mkdir()
    builders.colour_model(subs / "a.onnx")
    builders.colour_model(subs / "b.onnx", constant=True)
    profile = builders.colour_profile(tmp_path / "tiny.toml")
    args = (subs, "--out", tmp_path / "out", "--profile", profile, "--data", data)
    assert "2 evaluated, 0 reused" in batch(*args).stdout
    builders.colour_model(subs / "b.onnx", classes=4)  # new content: fails the output check
    assert "1 evaluated, 1 reused" in batch(*args).stdout
    rows = {r["id"]: r for r in board(tmp_path / "out")["rows"]}
    assert rows["a.onnx"]["rank"] == 1
    assert rows["b.onnx"]["verdict"] == "fail" and rows["b.onnx"]["failed_checks"] == ["output"]
    assert "0 evaluated, 2 reused" in batch(*args).stdout
    assert "2 evaluated, 0 reused" in batch(*args[:3], "--profile", profile, "--checks-only").stdout


def _sorted_ids(rows: list[dict[str, Any]], key: str, descending: bool = False) -> list[str]:
    """The order the page's numeric sort must give: by value (a stable sort, so tied rows
    keep their order), empty cells last in either direction."""
    present = sorted((r for r in rows if r[key] is not None), key=lambda r: r[key])
    if descending:
        present.sort(key=lambda r: -r[key])
    return [r["id"] for r in present] + [r["id"] for r in rows if r[key] is None]


def test_the_page_in_chromium_sorts_and_shows_the_json_numbers(local: Path) -> None:
    rows = json.loads((local / "leaderboard.json").read_text())["rows"]
    with open_page(local / "index.html") as page:

        def table() -> list[list[str]]:
            return page.eval_on_selector_all(
                "#leaderboard tbody tr",
                "rows => rows.map(r => [...r.cells].map(c => [c.dataset.value, c.innerText]))",
            )

        shown = table()
        assert [cells[1][0] for cells in shown] == [r["id"] for r in rows]
        for cells, row in zip(shown, rows, strict=True):
            assert cells[0][0] == ("" if row["rank"] is None else str(row["rank"]))
            assert [cells[2][0], cells[3][0]] == [row["status"], row["verdict"] or ""]
            if row["final"] is not None:
                assert float(cells[4][0]) == row["final"]
                if row["final_low"] is not None:
                    text = f"{row['final']:.4f} [{row['final_low']:.4f}, {row['final_high']:.4f}]"
                    assert cells[4][1] == text
            assert cells[9][1] == ", ".join(row["failed_checks"])
        page.click("th[data-key=final]")
        assert [c[1][0] for c in table()] == _sorted_ids(rows, "final")
        page.click("th[data-key=final]")
        assert [c[1][0] for c in table()] == _sorted_ids(rows, "final", descending=True)
        page.click("th[data-key=id]")
        assert [c[1][0] for c in table()] == sorted(r["id"] for r in rows)
        assert page.locator("section.submission").count() == len(rows)
        scored = sum(1 for r in rows if r["clean"] is not None)
        assert page.locator("section.submission svg.chart").count() == scored
        page.click("#leaderboard a:text('ensemble.onnx')")
        ensemble = page.locator("section.submission", has_text="ensemble analysis: ensemble")
        assert ensemble.count() == 1
