"""Files named by the user or by untrusted data: read bounded, write checked, stay inside.

- ``read_limited`` / ``open_regular``: open with O_NONBLOCK and fstat before reading, so a FIFO
  never blocks and ``/dev/zero`` behind a symlink is refused; only regular files, size-capped.
- ``check_output`` / ``check_output_folder``: everything the run will write is checked before
  the run starts (not a folder, not a FIFO or device, in a writable folder).
- ``confined``: a name taken from a suite, label file or manifest becomes a path under its
  folder, never outside it; ``resolves_inside`` refuses symlinks that lead out of a folder.
- ``file_sha256``: a file's digest, streamed, never through a link or from a FIFO.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from validator.errors import DataError, UsageError, ValidatorError

STDOUT = "-"
_HASH_BLOCK = 1 << 20


def open_regular(path: Path, what: str, max_bytes: int, error: type[ValidatorError]) -> BinaryIO:
    """``path`` opened for binary reading, after checking (on the open descriptor) that it is a
    regular file of at most ``max_bytes``; ``error`` (UsageError or DataError) otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file ({_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise error(f"{what} {path} is {info.st_size} bytes, more than the {max_bytes} allowed")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(
    path: Path, what: str, max_bytes: int, error: type[ValidatorError] = UsageError
) -> bytes:
    """The bytes of the regular file ``path`` (at most ``max_bytes``, even if it grows)."""
    with open_regular(path, what, max_bytes, error) as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is more than the {max_bytes} bytes allowed")
    return data


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def check_output(path: Path | str, what: str) -> None:
    """Refuse, before any work, an output file the run could not write: a folder, a FIFO (which
    blocks until someone reads it; ``-`` is stdout), a socket or block device, a file without
    write permission, or a missing or read-only parent folder. Character devices such as
    ``/dev/null`` are allowed; a write that then fails (``/dev/full``) is a one-line error."""
    if str(path) == STDOUT:
        return
    target = Path(path)
    try:
        info = target.stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"cannot write {what} {target}: {exc.strerror or exc}") from None
    if info is not None:
        if stat.S_ISFIFO(info.st_mode):
            raise UsageError(f"cannot write {what} {target}: it is a FIFO (use '-' for stdout)")
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISCHR(info.st_mode)):
            raise UsageError(f"cannot write {what} {target}: it is {_kind(info.st_mode)}")
        if not os.access(target, os.W_OK):
            raise UsageError(f"cannot write {what} {target}: permission denied")
        return
    parent = target.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {what} {target}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {target}: folder {parent} is not writable")


def check_outputs(outputs: Mapping[str, Path | str | None]) -> None:
    """``check_output`` for each ``option -> path`` given (None: not asked for)."""
    for option, path in outputs.items():
        if path is not None:
            check_output(path, option)


def check_output_folder(path: Path, what: str) -> None:
    """Refuse an output folder that exists as something else, that cannot be created or
    written (its nearest existing ancestor must be a writable folder), or that holds a symlink
    leading outside it (a write through it would land elsewhere)."""
    target = Path(path)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise UsageError(f"cannot write {what} {target}: it exists and is not a folder")
        if not os.access(target, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {what} {target}: folder is not writable")
        escape = first_escaping_link(target)
        if escape is not None:
            raise UsageError(
                f"cannot write {what} {target}: {escape} is a symlink leading outside it"
            )
        return
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create {what} {target}: {ancestor} is not a writable folder")


def first_escaping_link(folder: Path) -> Path | None:
    """The first symlink under ``folder`` (not following links) that resolves outside it."""
    for top, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            entry = Path(top) / name
            if entry.is_symlink() and not resolves_inside(entry, folder):
                return entry
    return None


def write_failed(path: Path | str, exc: OSError) -> ValidatorError:
    """The one-line error for a write that failed mid-way (disk full, I/O error)."""
    return UsageError(f"cannot write {path}: {exc.strerror or exc}")


def escapes(name: str) -> bool:
    """True for a name that is not a plain relative path: empty, absolute, with a ``..`` part,
    a backslash or a NUL (names come from suites, label files, manifests). String operations
    only: a label file may hold millions of names."""
    return (
        not name
        or name.startswith("/")
        or ".." in name.split("/")
        or "\\" in name
        or "\x00" in name
    )


def confined(folder: Path, name: str, where: str) -> Path:
    """``folder / name``, or DataError naming ``where`` when ``name`` escapes (see escapes)."""
    if escapes(name):
        raise DataError(f"{where}: {name!r} is outside the folder {folder}")
    return folder / PurePosixPath(name)


def resolves_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` (following every symlink) lies inside ``folder`` (resolved)."""
    try:
        path.resolve(strict=False).relative_to(folder.resolve(strict=False))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop on 3.10-3.12
        return False
    return True


def file_sha256(path: Path) -> str:
    """SHA-256 of a regular file, read in blocks; a link, FIFO or device is refused (OSError)
    without being read, so hashing a hostile path can neither hang nor follow it out."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(0, "not a regular file")
        while chunk := handle.read(_HASH_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()
