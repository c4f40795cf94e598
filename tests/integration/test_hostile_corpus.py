"""The hostile model corpus (tests/hostile_corpus.py) through the real CLI, case by case.

Each case runs in a child process that the harness kills after CASE_TIMEOUT seconds and whose
address space it caps (tests/hostile_runner.py): a hang or a memory blow-up fails the case
instead of stalling or sinking the test run. Each asserts the exit status, the deciding check's
status and reason, that no exception escaped, that no check failed with an internal error, and
that no raw escape sequence or bidi override reached the terminal or the JSON report.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile_corpus import BIDI, CASES, ESCAPE, Case
from tests.hostile_runner import run_cli

CASE_TIMEOUT = 300  # seconds; a case takes a few on a busy machine
PEAK_LIMIT_KIB = 1024 * 1024  # the process must stay under 1 GiB whatever the model


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_model_gets_its_exit_status_and_reason(case: Case, tmp_path: Path) -> None:
    (tmp_path / "cwd_only.bin").write_bytes(bytes(4))  # in the working directory only
    model = case.build(tmp_path)
    report_path = tmp_path / "report.json"
    outcome = run_cli([str(model), *case.args, "--json", str(report_path)], CASE_TIMEOUT, tmp_path)
    assert not outcome.hung, f"{case.id} did not end within {CASE_TIMEOUT} s"
    assert outcome.crash is None, f"{outcome.crash}\n{outcome.stderr}"
    assert outcome.exit == case.exit, outcome.output
    assert "Traceback" not in outcome.output
    assert max(outcome.peak_kib, outcome.children_peak_kib) < PEAK_LIMIT_KIB
    raw = report_path.read_text(encoding="utf-8")
    for text in (outcome.output, raw):
        assert ESCAPE[0] not in text and BIDI not in text and "\\u001b" not in text
    report = json.loads(raw)
    checks = {check["id"]: check for check in report["checks"]}
    decided = checks[case.check]
    assert decided["status"] == case.status, decided["message"]
    for word in case.words:
        assert word in decided["message"]
    assert not [c for c in checks.values() if "internal error" in c["message"]]
    assert report["model"]["path"].endswith(case.path_suffix)
