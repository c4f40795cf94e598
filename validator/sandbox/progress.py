"""Progress across the process boundary: the child reports through a RemoteProgress, the
parent hands each message to the real display (validator.scoring.engine.Progress)."""

from __future__ import annotations

from typing import Any, Protocol

from validator.sandbox.channel import Sender


class ProgressLike(Protocol):
    """start/advance/finish, as validator.scoring.engine.Progress (plain values only)."""

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """A set of ``total`` items begins; ``activity`` is "scoring" or "attacking"."""

    def advance(self, images: int, fooled: int | None = None) -> None:
        """``images`` more items are done, ``fooled`` of them fooled by an attack."""

    def finish(self, skipped: str | None = None) -> None:
        """The current set is done (or skipped, for that reason)."""


class RemoteProgress:
    """A Progress in the child that sends each event to the parent."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """A set of ``total`` items begins."""
        self._sender.send(
            "progress", event="start", set=set_name, total=int(total), activity=str(activity)
        )

    def advance(self, images: int, fooled: int | None = None) -> None:
        """``images`` more items are done."""
        fooled = None if fooled is None else int(fooled)
        self._sender.send("progress", event="advance", images=int(images), fooled=fooled)

    def finish(self, skipped: str | None = None) -> None:
        """The current set is done."""
        self._sender.send("progress", event="finish", skipped=skipped)


def forward_progress(message: dict[str, Any], progress: ProgressLike | None) -> None:
    """Replay one ``progress`` message on ``progress`` (ignored when None or malformed)."""
    if progress is None:
        return
    event = message.get("event")
    if event == "start":
        activity = "attacking" if message.get("activity") == "attacking" else "scoring"
        progress.start(str(message.get("set", ""))[:200], _count(message.get("total")), activity)
    elif event == "advance":
        fooled = message.get("fooled")
        progress.advance(_count(message.get("images")), None if fooled is None else _count(fooled))
    elif event == "finish":
        skipped = message.get("skipped")
        progress.finish(None if skipped is None else str(skipped)[:300])


def _count(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**40 else 0
