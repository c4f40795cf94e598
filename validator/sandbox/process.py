"""One child process: forked so that it starts with every module already imported (isolation
costs a fork, not an interpreter start), in its own process group so that a kill reaches
anything it started, under an address-space limit.

The child runs a body that talks through a Sender; the parent reads messages until a deadline,
and can kill the whole group at any moment. A child never returns into the parent's code: it
leaves with ``os._exit`` whatever happens, so no cleanup handler of the parent runs twice.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from validator.errors import ValidatorError
from validator.sandbox.channel import Receiver, Sender
from validator.sandbox.confine import Confinement

ChildBody = Callable[[Sender], None]

# Exit codes a child uses to say how it ended (after sending what it could).
EXIT_DONE, EXIT_MEMORY, EXIT_ERROR = 0, 3, 4


@dataclass(frozen=True)
class Ending:
    """How a child process ended: its exit code or the signal that killed it."""

    code: int | None
    signal: int | None
    peak_rss_bytes: int = 0  # the child's largest resident set (its own children included)

    @property
    def describe(self) -> str:
        """Words such as "exit code 4" or "killed by SIGSEGV"."""
        if self.signal is not None:
            return f"killed by {signal.Signals(self.signal).name}"
        return f"exit code {self.code}"


_PR_SET_PDEATHSIG = 1  # prctl option: a signal for this process when its parent dies


class Child:
    """A forked child running ``body``; the parent side of its channel."""

    def __init__(
        self, body: ChildBody, memory_bytes: int, confinement: Confinement | None = None
    ) -> None:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the tests' outcomes
            os.close(read_fd)
            _run_child(body, Sender(write_fd), memory_bytes, confinement, parent)
        os.close(write_fd)
        self.confinement = confinement
        self.pid = pid
        self.channel = Receiver(read_fd)
        self._read_fd = read_fd
        self._ending: Ending | None = None

    def kill(self) -> None:
        """Kill the child and everything it started (its process group); no-op once reaped."""
        if self._ending is not None:
            return  # the pid may belong to someone else by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)  # in case it has not made its group yet

    def wait(self, grace: float = 5.0) -> Ending:
        """Reap the child (once) and say how it ended; a child that closed its channel but
        is still running after ``grace`` seconds is killed."""
        if self._ending is None:
            waited = _wait_for(self.pid, grace)
            if waited is None:
                self.kill()
                _, status, usage = os.wait4(self.pid, 0)
            else:
                status, usage = waited
            peak = int(usage.ru_maxrss) * 1024  # Linux reports kilobytes
            if os.WIFSIGNALED(status):
                self._ending = Ending(None, os.WTERMSIG(status), peak)
            else:
                self._ending = Ending(os.WEXITSTATUS(status), None, peak)
            # Anything the child started and left behind goes with it (a group outlives its
            # leader only while members remain, so the id is still theirs).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if self.confinement is not None:  # what left the group is still in its cgroup
                self.confinement.release(self.pid)
            os.close(self._read_fd)
        return self._ending


def _wait_for(pid: int, seconds: float) -> tuple[int, resource.struct_rusage] | None:
    """The wait status and resource usage of ``pid`` once it exits within ``seconds``."""
    deadline, pause = time.monotonic() + seconds, 0.0002
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        if time.monotonic() >= deadline:
            return None
        # A child that closed its channel is usually gone within a millisecond or two: poll
        # finely first (a fixed 5 ms sleep was a tenth of a static check's wall time).
        time.sleep(pause)
        pause = min(pause * 2, 0.005)


def _run_child(
    body: ChildBody,
    sender: Sender,
    memory_bytes: int,
    confinement: Confinement | None,
    parent: int,
) -> None:  # pragma: no cover
    code = EXIT_ERROR
    try:
        os.setpgid(0, 0)
        _die_with_parent(parent)
        _silence()
        _single_threaded_torch()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _limit(resource.RLIMIT_AS, memory_bytes)
        _limit(resource.RLIMIT_CORE, 0)
        if confinement is not None:  # untrusted code: no terminal at all, then confined
            _no_stdin()
            sender.send("confined", measures=confinement.enter())
        body(sender)
        code = EXIT_DONE
    except MemoryError:
        code = EXIT_MEMORY
        _try_send(sender, "breach", breach="memory")
    except ValidatorError as exc:  # "cannot evaluate" (bad data, bad suite): the parent raises it
        _try_send(sender, "raise", type=type(exc).__name__, message=str(exc)[:2000])
    except BaseException as exc:  # a child must always end with os._exit
        where = traceback.extract_tb(exc.__traceback__)[-1].name if exc.__traceback__ else "?"
        _try_send(sender, "failure", reason=f"{type(exc).__name__}: {exc} ({where})"[:400])
    finally:
        # No flush of stdout/stderr: a thread of the parent (a progress display) may have held
        # their locks at the fork, and whatever the child wrote is not for the terminal anyway.
        os._exit(code)


def _die_with_parent(parent: int) -> None:
    """Be killed when the process that forked this one dies: the child is in its own process
    group, which a kill of the parent does not reach, and only the parent enforces its wall
    time, so an orphan could run (or hang) for ever. Linux only; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(EXIT_ERROR)


def _single_threaded_torch() -> None:
    """A parent that already ran torch (a test session, a user's own pytest suite with the
    plugin) holds OpenMP's worker threads; the fork copies none of them, and the child's first
    parallel torch operation waits forever on their pool. One thread in the child never enters
    that pool."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(1)


def _silence() -> None:
    """Point the child's stdout and stderr at /dev/null: nothing a model (or a library it
    drives) prints may corrupt ``--json -`` on stdout or garble the terminal; what the user
    needs arrives through the channel."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _no_stdin() -> None:
    """Untrusted code reads nothing from the user's terminal."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def _try_send(sender: Sender, kind: str, **payload: str) -> None:
    with contextlib.suppress(Exception):  # the pipe may be gone; the exit code still tells
        sender.send(kind, **payload)
