"""Run one CLI invocation in a child process bounded by the harness, not by the code under test.

The child drives the real CLI through click's CliRunner and reports its exit status, whether an
exception escaped (a crash), the printed output and its own peak resident memory. The parent
kills it at ``timeout`` seconds (a hang is a failed case, never a stuck test run) and caps its
address space, so a regression shows up as a failed case rather than a machine out of memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CHILD = """
import json, resource, sys
from click.testing import CliRunner
from validator.cli.main import cli
args = json.loads(sys.argv[1])
result = CliRunner().invoke(cli, args)
exc = result.exception
crash = None if exc is None or isinstance(exc, SystemExit) else repr(exc)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the sandbox's workers
print(json.dumps({"exit": result.exit_code, "crash": crash, "output": result.output,
                  "peak_kib": peak, "children_peak_kib": children}))
"""
MEMORY_CAP = 4 * 2**30  # bytes of address space; a case that needs more fails, loudly


@dataclass(frozen=True)
class Outcome:
    """What the child reported; ``hung`` when the harness had to kill it."""

    exit: int | None
    crash: str | None
    output: str
    peak_kib: int  # the process that ran the CLI
    children_peak_kib: int = 0  # the largest of its child processes (isolated stages)
    hung: bool = False
    stderr: str = ""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli(args: list[str], timeout: float, cwd: Path | None = None) -> Outcome:
    """``robust-validate ARGS`` through CliRunner in a fresh, bounded child process."""
    root = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(args)],
            capture_output=True,
            timeout=timeout,
            cwd=cwd or root,
            env=_env(root),
            preexec_fn=_limit_memory,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(None, None, "", 0, hung=True)
    text = done.stdout.decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or not text:
        stderr = done.stderr.decode("utf-8", "replace")[-2000:]
        return Outcome(None, f"child died with status {done.returncode}", "", 0, stderr=stderr)
    report = json.loads(text[-1])
    return Outcome(
        report["exit"],
        report["crash"],
        report["output"],
        report["peak_kib"],
        report["children_peak_kib"],
    )


def _env(root: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
