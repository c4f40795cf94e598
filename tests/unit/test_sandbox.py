"""The isolation mechanism on its own: every way a child can end becomes the right Outcome,
and the parent never waits past a phase's limit (the harness bounds each case)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest

from validator.sandbox import Limits, PhaseClock, Sender, run_isolated
from validator.sandbox.channel import MAX_MESSAGE_BYTES
from validator.vocab import Breach, Phase

LIMITS = Limits({p: 2.0 for p in Phase}, memory_bytes=2_000_000_000, threads=1)


def _run(body: Any, limits: Limits = LIMITS) -> tuple[Any, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    return run_isolated(body, limits, Phase.ANALYSIS, seen.append), seen


def _finishes(sender: Sender) -> None:
    sender.send("note", text="hello")
    sender.send("done")


def _sleeps(sender: Sender) -> None:
    time.sleep(60)


def _allocates(sender: Sender) -> None:
    blocks = []
    while True:  # numpy.zeros asks calloc, so no page is touched before the limit says no
        blocks.append(np.zeros(250_000_000))


def _segfaults(sender: Sender) -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _raises(sender: Sender) -> None:
    raise ValueError("boom")


def _exits_silently(sender: Sender) -> None:
    os._exit(0)


def _runtime_hang(sender: Sender) -> None:
    clock = PhaseClock(sender)
    clock.enter(Phase.RUNTIME)
    time.sleep(60)


def _garbage(sender: Sender) -> None:
    os.write(sender._fd, (MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
    time.sleep(60)


def _forks_and_hangs(sender: Sender) -> None:
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    time.sleep(60)


@pytest.mark.parametrize(
    ("body", "breach", "phase", "words"),
    [
        (_finishes, None, Phase.ANALYSIS, ""),
        (_sleeps, Breach.TIMEOUT, Phase.ANALYSIS, "graph analysis stopped after 2 s"),
        (_allocates, Breach.MEMORY, Phase.ANALYSIS, "exceeded the 2 GB memory limit"),
        (_segfaults, Breach.CRASH, Phase.ANALYSIS, "killed by SIGSEGV"),
        (_raises, Breach.CRASH, Phase.ANALYSIS, "ValueError: boom"),
        (_exits_silently, Breach.CRASH, Phase.ANALYSIS, "exit code 0"),
        (_runtime_hang, Breach.TIMEOUT, Phase.RUNTIME, "onnxruntime run stopped after 2 s"),
        (_garbage, Breach.CRASH, Phase.ANALYSIS, "over the channel's cap"),
        (_forks_and_hangs, Breach.TIMEOUT, Phase.ANALYSIS, "stopped after 2 s"),
    ],
)
def test_every_ending_becomes_an_outcome(
    body: Any, breach: Breach | None, phase: Phase, words: str
) -> None:
    outcome, _ = _run(body)
    assert outcome.breach is breach
    assert outcome.phase is phase
    assert words in outcome.reason


def test_messages_reach_the_parent_in_order() -> None:
    outcome, seen = _run(_finishes)
    assert outcome.ok
    assert seen == [{"kind": "note", "text": "hello"}]


def test_nothing_a_child_started_survives_it() -> None:
    marker: list[int] = []

    def body(sender: Sender) -> None:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        sender.send("grandchild", pid=pid)
        time.sleep(60)

    outcome, seen = _run(body, Limits({p: 1.0 for p in Phase}, 2_000_000_000, 1))
    marker.append(seen[0]["pid"])
    assert outcome.breach is Breach.TIMEOUT
    with pytest.raises(ProcessLookupError):
        for _ in range(100):  # the kill is immediate; reaping by init may take a moment
            os.kill(marker[0], 0)
            time.sleep(0.02)


def test_more_threads_than_cores_is_a_usage_error() -> None:
    from validator.config import load_profile
    from validator.errors import UsageError
    from validator.sandbox import usable_cores

    with pytest.raises(UsageError, match="more than the"):
        Limits.from_profile(load_profile("final"), usable_cores() + 1)
    assert Limits.from_profile(load_profile("final")).threads == usable_cores()


_ORPHAN = """
import os, sys, time
from validator.sandbox.process import Child
child = Child(lambda sender: time.sleep(60), 1 << 30)
print(child.pid, flush=True)
os._exit(0)  # the parent dies without waiting: no wall-time limit is enforced any more
"""


def test_a_child_dies_with_its_parent() -> None:
    # Killing a batch worker (or the CLI) must not leave its children running with no limit.
    done = subprocess.run(
        [sys.executable, "-c", _ORPHAN], capture_output=True, text=True, timeout=60
    )
    pid = int(done.stdout.split()[0])
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("the child outlived its parent")


def test_a_child_of_a_parent_that_ran_torch_can_run_torch() -> None:
    # OpenMP's workers of the parent are not copied by the fork: a child's first parallel
    # operation waited on them for ever (a test session that ran white-box tests first hung).
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    torch.ones(512, 512) @ torch.ones(512, 512)  # starts the parent's thread pool

    def body(sender: Sender) -> None:
        sender.send("sum", value=float((torch.ones(512, 512) @ torch.ones(512, 512)).sum()))
        sender.send("done")

    got: list[float] = []
    limits = Limits({p: 60.0 for p in Phase}, memory_bytes=4_000_000_000, threads=1)
    outcome = run_isolated(body, limits, Phase.RUNTIME, lambda m: got.append(m["value"]))
    assert outcome.ok and got == [512.0**3]
