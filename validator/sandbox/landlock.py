"""Landlock (Linux >= 5.13) through ctypes: restrict the calling process, irrevocably, to read
some paths and write others; with ABI >= 4 also deny TCP bind/connect, with ABI >= 6 keep
signals and abstract unix sockets inside the sandbox.

The syscall numbers are those of the generic table (x86_64 and aarch64 share them).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct
from collections.abc import Sequence
from pathlib import Path

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Access rights (uapi/linux/landlock.h).
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
_DIR_WRITE = sum(1 << b for b in range(4, 13))  # remove/make dir, file, fifo, sock, sym...
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE


class LandlockError(Exception):
    """Landlock is not available here (old kernel, disabled, or the syscalls are filtered)."""


def _abi_rights(abi: int) -> int:
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _DIR_WRITE
    if abi >= 2:
        rights |= _REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def _libc() -> ctypes.CDLL:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        raise LandlockError(f"not on Linux x86_64/aarch64 ({platform.system()})")
    return ctypes.CDLL(None, use_errno=True)


def _syscall(libc: ctypes.CDLL, number: int, *args: object) -> int:
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    result: int = libc.syscall(ctypes.c_long(number), *converted)
    if result < 0:
        errno = ctypes.get_errno()
        raise LandlockError(f"syscall {number}: {os.strerror(errno)}")
    return result


def abi_version() -> int:
    """The Landlock ABI the kernel offers (raises LandlockError when none)."""
    return _syscall(_libc(), _CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)


def apply(read: Sequence[Path], write: Sequence[Path]) -> int:
    """Restrict this process: read (and execute) beneath ``read``, read and write beneath
    ``write``; everything else is refused. Returns the ABI used."""
    libc = _libc()
    abi = abi_version()
    rights = _abi_rights(abi)
    fields = [rights]
    if abi >= 4:
        fields.append(1 | 2)  # handled_access_net: BIND_TCP | CONNECT_TCP, none allowed
    if abi >= 6:
        fields.append(1 | 2)  # scoped: ABSTRACT_UNIX_SOCKET | SIGNAL
    packed = struct.pack(f"={len(fields)}Q", *fields)
    attr = ctypes.create_string_buffer(packed, len(packed))
    ruleset = _syscall(libc, _CREATE_RULESET, attr, len(packed), 0)
    try:
        reading = EXECUTE | READ_FILE | READ_DIR
        for path in read:
            _allow(libc, ruleset, path, reading)
        for path in write:
            _allow(libc, ruleset, path, rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError("prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(libc, _RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist here needs no rule
    try:
        if not os.path.isdir(path):
            access &= _FILE_ONLY | _TRUNCATE | _IOCTL_DEV
        rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        with contextlib.suppress(LandlockError):  # e.g. a right this file type cannot take
            _syscall(libc, _ADD_RULE, ruleset, _RULE_PATH_BENEATH, rule, 0)
    finally:
        os.close(fd)
