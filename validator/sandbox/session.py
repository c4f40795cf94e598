"""The parent's side of one isolated run: read the child's messages, enforce each phase's wall
time, and turn however the child ended into an Outcome."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from validator.errors import DataError, UsageError, ValidatorError
from validator.sandbox.channel import ChannelClosed, ProtocolError, Sender
from validator.sandbox.confine import Confinement
from validator.sandbox.limits import Limits
from validator.sandbox.process import EXIT_MEMORY, Child, ChildBody
from validator.vocab import Breach, Phase

MessageHandler = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Outcome:
    """How an isolated run ended. ``breach`` is None when the child finished its work; else
    ``phase`` is where it stopped and ``reason`` one line naming the limit."""

    phase: Phase
    breach: Breach | None = None
    reason: str = ""
    peak_rss_bytes: int = 0  # the child's largest resident set, for the report

    @property
    def ok(self) -> bool:
        """True when the child finished."""
        return self.breach is None


class PhaseClock:
    """The child's side of phase timing: announce each phase as it starts, so the parent
    applies that phase's wall-time limit from that moment."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def enter(self, phase: Phase) -> None:
        """Start ``phase`` (its time limit starts now)."""
        self.sender.send("phase", name=phase.value)


def run_isolated(
    body: ChildBody,
    limits: Limits,
    first: Phase,
    on_message: MessageHandler,
    confinement: Confinement | None = None,
) -> Outcome:
    """Run ``body`` in a child under ``limits``, starting in phase ``first``; every message
    other than phase changes goes to ``on_message`` as it arrives. ``confinement`` (for
    untrusted code) also confines the child; its measures arrive as a ``confined`` message."""
    child = Child(body, limits.memory_bytes, confinement)
    watch = _Watch(limits, first)
    try:
        outcome = _pump(child, watch, on_message)
    finally:  # a KeyboardInterrupt or a handler's error must not leave the child running
        child.kill()
        ending = child.wait()
    return dataclasses.replace(outcome, peak_rss_bytes=ending.peak_rss_bytes)


@dataclass
class _Watch:
    limits: Limits
    phase: Phase
    deadline: float = 0.0
    done: bool = False
    failure: str = ""
    memory: bool = False

    def __post_init__(self) -> None:
        self.enter(self.phase)

    def enter(self, phase: Phase) -> None:
        self.phase = phase
        self.deadline = time.monotonic() + self.limits.seconds[phase]

    def outcome(self, breach: Breach, detail: str = "") -> Outcome:
        return Outcome(self.phase, breach, self.limits.describe(self.phase, breach, detail))


def _pump(child: Child, watch: _Watch, on_message: MessageHandler) -> Outcome:
    while True:
        try:
            message = child.channel.receive(watch.deadline)
        except ChannelClosed:
            return _ended(child, watch)
        except ProtocolError as exc:
            child.kill()
            return watch.outcome(Breach.CRASH, str(exc))
        if message is None:
            child.kill()
            return watch.outcome(Breach.TIMEOUT)
        _dispatch(message, watch, on_message)


def _dispatch(message: dict[str, Any], watch: _Watch, on_message: MessageHandler) -> None:
    kind = message["kind"]
    if kind == "phase":
        with contextlib.suppress(ValueError):
            watch.enter(Phase(message.get("name")))
    elif kind == "done":
        watch.done = True
    elif kind == "breach":
        watch.memory = message.get("breach") == Breach.MEMORY.value
    elif kind == "raise":
        raise _error(message)
    elif kind == "failure":
        watch.failure = str(message.get("reason", ""))[:400]
    else:
        on_message(message)


def _error(message: dict[str, Any]) -> ValidatorError:
    """The "cannot evaluate" error the child raised, raised again in the parent (by name
    among the known classes only: nothing the child sends picks arbitrary code)."""
    kinds = {cls.__name__: cls for cls in (DataError, UsageError, ValidatorError)}
    return kinds.get(str(message.get("type")), ValidatorError)(str(message.get("message", "")))


def _ended(child: Child, watch: _Watch) -> Outcome:
    ending = child.wait()
    if watch.done:  # the work is complete whatever happened during the exit
        return Outcome(watch.phase)
    if watch.memory or ending.code == EXIT_MEMORY:
        return watch.outcome(Breach.MEMORY)
    return watch.outcome(Breach.CRASH, watch.failure or ending.describe)
