"""Confinement for children that run untrusted code (PyTorch submissions): opt-in per job.

Applied inside the forked child, after the address-space limit and before the job's body, in
this order, each measure only where the operating system allows it cheaply:

1. ``preload``: trusted modules (torch, the exporter) are imported first, while the Python
   installation is still readable in full;
2. working directory = the submission's private folder, ``TMPDIR`` pointing into it;
3. resource limits: processes (RLIMIT_NPROC), file size (RLIMIT_FSIZE, with SIGXFSZ ignored so a
   write over the cap fails instead of killing), open files (RLIMIT_NOFILE); as root, whom the
   kernel exempts from RLIMIT_NPROC, a pids cgroup (v1, ``pids.max``) caps the processes instead;
4. no network: a new, empty network namespace (``unshare(CLONE_NEWNET)``; as root directly,
   otherwise inside a new user namespace), and Landlock's TCP bind/connect denial (ABI >= 4);
5. Landlock (Linux >= 5.13): reads only of the Python installation, the system libraries and
   the folder; writes only in the folder; signals only within the sandbox (ABI >= 6).

What was applied and what was not is returned as lines for the report (``measures``); a
measure the system refuses is skipped, never fatal. Linux-only; elsewhere only the limits apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import resource
import signal
import site
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from validator.sandbox import landlock
from validator.sandbox.landlock import LandlockError

_CLONE_NEWNET, _CLONE_NEWUSER = 0x40000000, 0x10000000
_PIDS_ROOT = Path("/sys/fs/cgroup/pids")
_SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


@dataclass(frozen=True)
class Confinement:
    """How to confine a child that runs untrusted code in ``folder``."""

    folder: Path
    max_processes: int = 64  # threads count too (torch starts a pool per core)
    max_file_bytes: int = 2 * 2**30  # each file the child writes (the exported ONNX fits)
    max_open_files: int = 512
    preload: tuple[str, ...] = ()

    def cgroup(self, pid: int) -> Path:
        """The pids cgroup of the child ``pid`` (used only where it could be made)."""
        return _PIDS_ROOT / f"robust-validate-{pid}"

    def enter(self) -> list[str]:
        """Confine the calling (child) process; the measures taken, one line each."""
        for name in self.preload:
            importlib.import_module(name)
        folder = self.folder.resolve()
        os.chdir(folder)
        os.environ["TMPDIR"] = str(folder)
        measures = [f"working directory and TMPDIR: the submission's folder ({folder.name})"]
        measures += self._limits()
        measures.append(_no_network())
        measures.append(_landlock(folder))
        return measures

    def release(self, pid: int) -> None:
        """Parent side, after the child was reaped: kill what is left in its cgroup (even
        processes that left the child's process group), then remove the cgroup."""
        group = self.cgroup(pid)
        for _ in range(250):  # killed processes leave the cgroup once reaped: a few ms
            if not group.is_dir():
                return
            try:
                tasks = [int(t) for t in (group / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                tasks = []
            for task in tasks:
                with contextlib.suppress(OSError):
                    os.kill(task, signal.SIGKILL)
            with contextlib.suppress(OSError):
                group.rmdir()
                return
            time.sleep(0.02)

    def _limits(self) -> list[str]:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _lower(resource.RLIMIT_FSIZE, self.max_file_bytes)
        _lower(resource.RLIMIT_NOFILE, self.max_open_files)
        _lower(resource.RLIMIT_NPROC, self.max_processes)
        lines = [
            f"files written: at most {self.max_file_bytes / 2**20:g} MiB each (RLIMIT_FSIZE), "
            f"{self.max_open_files} open (RLIMIT_NOFILE)"
        ]
        if os.geteuid() != 0:
            return [*lines, f"processes: at most {self.max_processes} (RLIMIT_NPROC)"]
        return [*lines, self._pids_cgroup()]

    def _pids_cgroup(self) -> str:
        group = self.cgroup(os.getpid())
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(self.max_processes))
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError as exc:
            return (
                f"processes: not capped (root is exempt from RLIMIT_NPROC; no pids cgroup: {exc})"
            )
        return f"processes: at most {self.max_processes} (pids cgroup; root ignores RLIMIT_NPROC)"


def _lower(which: int, value: int) -> None:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (value, value))


def _no_network() -> str:
    """A new network namespace holds only a loopback device that is down: no route anywhere."""
    flags = _CLONE_NEWNET if os.geteuid() == 0 else _CLONE_NEWNET | _CLONE_NEWUSER
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(ctypes.c_int(flags)) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    except (OSError, AttributeError) as exc:  # AttributeError: no unshare in this libc
        return f"network: not isolated (no network namespace: {exc})"
    return "network: none (a new, empty network namespace)"


def _landlock(folder: Path) -> str:
    try:
        abi = landlock.apply(read=_readable(), write=[folder, *map(Path, _DEVICES)])
    except LandlockError as exc:
        return f"files: not confined (Landlock unavailable: {exc})"
    extra = ", TCP denied" if abi >= 4 else ""
    extra += ", signals kept inside" if abi >= 6 else ""
    return f"files: read-only Python installation, read-write folder (Landlock ABI {abi}{extra})"


def _readable() -> list[Path]:
    """The Python installation and the system libraries, nothing of the user's files."""
    roots: set[str] = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(_site_dirs())
    roots.update(_SYSTEM_READ)
    return sorted({Path(p) for p in roots if p and os.path.exists(p)})


def _site_dirs() -> Iterable[str]:
    with contextlib.suppress(AttributeError):
        yield from site.getsitepackages()
    with contextlib.suppress(AttributeError):
        yield site.getusersitepackages()
