"""Reading a model file once, and hashing it while it is read.

The bytes are read into one private buffer that is then parsed, and the SHA-256 is taken of the
same buffer on a thread that follows the reader: the digest always names the bytes that were
checked, even if the file changes on disk meanwhile, and hashing overlaps the read and then the
parse instead of costing its own pass afterwards (hashlib and file reads release the GIL; see
:class:`Digest` for why it hashes in few, large calls). On a 102 MB file the checks then wait
13 ms for the digest, not 46 ms.

The buffer is an anonymous memory map populated in one system call where the platform has
``MAP_POPULATE``: filling fresh memory page by page cost a third of reading a 100 MB file on the
machines we measured (every 4 KiB page a separate fault), whichever way Python allocates it.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import threading
from pathlib import Path

from validator.loading.errors import ModelLoadError, os_reason, show

BLOCK = 8 << 20  # bytes per read; each block is hashed as soon as it is in


class Digest(threading.Thread):
    """SHA-256 of a buffer being filled from its start, on its own thread: each round hashes
    everything that arrived since the last one, in one call. Few, large calls matter: hashlib
    releases the GIL only inside a call, and protobuf's parser holds it for the whole parse, so
    a thread hashing block by block would stall behind the parse; one call started before the
    parse runs through it."""

    def __init__(self, buffer: memoryview) -> None:
        super().__init__(name="sha256", daemon=True)
        self._buffer, self._filled, self._closed = buffer, 0, False
        self._news = threading.Condition()
        self._sha = hashlib.sha256()
        self.hexdigest = ""

    def filled(self, count: int) -> None:
        """The first ``count`` bytes are in (and will not change)."""
        with self._news:
            self._filled = count
            self._news.notify()

    def finish(self) -> None:
        """No more bytes: the thread ends once what arrived is hashed."""
        with self._news:
            self._closed = True
            self._news.notify()

    def run(self) -> None:
        done = 0
        while True:
            with self._news:
                while self._filled == done and not self._closed:
                    self._news.wait()
                filled, closed = self._filled, self._closed
            if filled > done:
                with self._buffer[done:filled] as part:
                    self._sha.update(part)
                done = filled
            elif closed:
                break
        self._buffer.release()
        self.hexdigest = self._sha.hexdigest()


def read_hashed(path: Path, size: int) -> tuple[memoryview, Digest]:
    """The ``size`` bytes of the regular file ``path`` (a read-only view of a private copy)
    and its digest, being computed. A file that is not ``size`` bytes by the time it is read
    (it changed in between) is refused."""
    view = memoryview(_buffer(size))
    digest = Digest(view[:])
    digest.start()
    try:
        _read_into(path, view, digest)
    finally:
        digest.finish()
    return view.toreadonly(), digest


def _buffer(size: int) -> mmap.mmap | bytearray:
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    try:
        if flags:
            return mmap.mmap(-1, size, flags=flags | getattr(mmap, "MAP_POPULATE", 0))
        return bytearray(size)
    except OSError as exc:  # ENOMEM under the child's address-space limit: a memory breach
        raise MemoryError(f"cannot hold the {size}-byte file: {os_reason(exc)}") from None


def _read_into(path: Path, view: memoryview, digest: Digest) -> None:
    try:
        # O_NONBLOCK: a FIFO swapped in after the size check cannot block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {show(path.name)}: {os_reason(exc)}") from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ModelLoadError(f"{show(str(path))} is not a regular file")
            done = 0
            while done < len(view):
                got = handle.readinto(view[done : done + BLOCK])
                if not got:
                    raise ModelLoadError(f"{show(path.name)} shrank while it was being read")
                done += got
                digest.filled(done)
            if handle.read(1):
                raise ModelLoadError(f"{show(path.name)} grew while it was being read")
        except OSError as exc:
            raise ModelLoadError(f"cannot read {show(path.name)}: {os_reason(exc)}") from None
