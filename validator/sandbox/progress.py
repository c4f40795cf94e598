"""Progress across the process boundary: the child reports through a RemoteProgress, the
parent hands each message to the real display (validator.engine.Progress)."""

from __future__ import annotations

from typing import Any, Protocol

from validator.sandbox.channel import Sender


class ProgressLike(Protocol):
    """start/advance/finish, as validator.engine.Progress."""

    def start(self, set_name: str, total: int) -> None:
        """A set of ``total`` items begins."""

    def advance(self, images: int) -> None:
        """``images`` more items are done."""

    def finish(self) -> None:
        """The current set is done."""


class RemoteProgress:
    """A Progress in the child that sends each event to the parent."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def start(self, set_name: str, total: int) -> None:
        """A set of ``total`` items begins."""
        self._sender.send("progress", event="start", set=set_name, total=int(total))

    def advance(self, images: int) -> None:
        """``images`` more items are done."""
        self._sender.send("progress", event="advance", images=int(images))

    def finish(self) -> None:
        """The current set is done."""
        self._sender.send("progress", event="finish")


def forward_progress(message: dict[str, Any], progress: ProgressLike | None) -> None:
    """Replay one ``progress`` message on ``progress`` (ignored when None or malformed)."""
    if progress is None:
        return
    event = message.get("event")
    if event == "start":
        progress.start(str(message.get("set", ""))[:200], _count(message.get("total")))
    elif event == "advance":
        progress.advance(_count(message.get("images")))
    elif event == "finish":
        progress.finish()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**40 else 0
