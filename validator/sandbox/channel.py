"""Messages between a child process and its parent: length-prefixed JSON over a pipe.

JSON, never pickle: the child interprets hostile models (and, for PyTorch submissions, runs
hostile code), so nothing it sends may be able to execute anything in the parent. Each message
is capped, so a child cannot make the parent allocate without bound either.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

MAX_MESSAGE_BYTES = 64 * 2**20  # a report with every per-image record fits many times over
_HEADER = struct.Struct("!I")


class ChannelClosed(Exception):
    """The other end closed the pipe (the child exited or died)."""


class ProtocolError(Exception):
    """The child sent something that is not a well-formed, bounded message."""


class Sender:
    """The child's end: ``send`` one JSON-serialisable mapping at a time."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send(self, kind: str, **payload: Any) -> None:
        """Send one message ``{"kind": kind, **payload}``."""
        body = json.dumps({"kind": kind, **payload}, default=_fallback).encode("utf-8")
        if len(body) > MAX_MESSAGE_BYTES:
            raise ValueError(f"message of {len(body)} bytes is over the channel's cap")
        data = memoryview(_HEADER.pack(len(body)) + body)
        while data:
            written = os.write(self._fd, data)
            data = data[written:]


class Receiver:
    """The parent's end: ``receive`` waits for one message until a deadline."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """The next message, or None when ``deadline`` (time.monotonic) passed first.
        Raises ChannelClosed at end of stream and ProtocolError on a malformed message."""
        while True:
            message = self._take()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._fd], [], [], min(remaining, 1.0))
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 20)
            if not chunk:
                raise ChannelClosed
            self._buffer += chunk

    def _take(self) -> dict[str, Any] | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"a message of {size} bytes is over the channel's cap")
        if len(self._buffer) < _HEADER.size + size:
            return None
        body = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
        del self._buffer[: _HEADER.size + size]
        try:
            message = json.loads(body)
        except ValueError as exc:
            raise ProtocolError(f"a message is not JSON: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
            raise ProtocolError("a message is not an object with a kind")
        return message


def _fallback(value: Any) -> Any:
    """numpy scalars and enums that slipped into a payload."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if hasattr(value, "value"):
        return value.value
    return str(value)
