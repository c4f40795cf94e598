"""One submission's evaluation: ``robust-validate check`` in a fresh process, its report read
back, and the batch status decided.

The evaluation runs the command line itself (``python -m validator check ... --json PATH``), so
a batch row is exactly what ``robust-validate`` says about the file alone, and the same function
serves local workers and Ray tasks (a Ray worker is a multi-threaded process, which must not
fork; starting a program is safe). The command's own isolation applies the profile's limits;
validator.batch.result decides the status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator.batch.fingerprint import Settings, Source
from validator.batch.result import Result, classify
from validator.batch.store import read_json
from validator.vocab import SubmissionStatus


@dataclass(frozen=True)
class Task:
    """One evaluation to run: the model file, the batch settings, onnxruntime threads."""

    key: str  # the fingerprint
    model: str
    settings: Settings
    threads: int


def evaluate(task: Task, started: Any = None) -> Result:
    """Run the check command on ``task`` and classify how it ended. ``started``, when given,
    is called with the process once it runs (so a batch can stop it)."""
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="robust-validate-") as scratch:
        command = _command(task, Path(scratch))
        out = Path(scratch) / "report.json"
        code, stderr = _run(command, task.settings.timeout_s, started)
        seconds = round(time.monotonic() - begin, 3)
        report = read_json(out) if out.is_file() else None
    if code is None:
        reason = f"the evaluation did not end within {task.settings.timeout_s:g} s"
        return Result(SubmissionStatus.TIMEOUT, reason, seconds, report)
    return classify(code, stderr, report, seconds)


def _command(task: Task, scratch: Path) -> list[str]:
    settings = task.settings
    command = [sys.executable, "-m", "validator", "check", task.model, "--quiet",
               "--json", str(scratch / "report.json"), "--threads", str(task.threads),
               "--profile", _materialise(settings.profile, scratch / "profile")]  # fmt: skip
    if settings.checks_only:
        return [*command, "--checks-only"]
    if settings.data is not None:
        command += ["--data", settings.data]
    if settings.suite is not None:
        command += ["--attack", _materialise(settings.suite, scratch / "suite")]
    return command


def _materialise(source: Source, folder: Path) -> str:
    """A built-in name as is; TOML text written to ``folder/<name>`` (keeping its name, which
    a profile or suite takes as its default name)."""
    if source.text is None:
        return source.name
    folder.mkdir()
    path = folder / Path(source.name).name
    path.write_text(source.text, encoding="utf-8")
    return str(path)


def _run(command: list[str], timeout: float, started: Any) -> tuple[int | None, str]:
    """Exit code and stderr; None when the safety timeout passed (the process is killed)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True, errors="replace", env=env, start_new_session=True,
    )  # fmt: skip
    if started is not None:
        started(process)
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_all([process])
        process.communicate()
        return None, ""
    except BaseException:  # a Ray cancel or Ctrl-C: the evaluation must not outlive the task
        stop_all([process])
        raise
    return process.returncode, stderr or ""


def stop_all(processes: list[subprocess.Popen[str]], grace: float = 10.0) -> None:
    """Stop evaluations: SIGINT first (the check command then kills its isolated child), then
    SIGKILL to the session of any still there after ``grace`` seconds."""
    live = [p for p in processes if p.poll() is None]
    for process in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    for process in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, deadline - time.monotonic()))
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: nothing else is in it
