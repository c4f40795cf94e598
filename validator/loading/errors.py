"""Why a model cannot be loaded, in one line a user can read (and that cannot be abused)."""

from __future__ import annotations

from validator.text import safe_text


class ModelLoadError(Exception):
    """The file is not a model robust-validate can analyse; ``reason`` is one line for users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's message on one line (checker messages span several), shortened."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return show(text, limit)


def os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, RuntimeError):  # pathlib's resolve() on Python 3.11
        return "symlink loop"
    return one_line(exc, 120)


def show(text: str | bytes, limit: int = 120) -> str:
    """User-controlled text (paths, names) made safe for a one-line message: control
    characters escaped, long strings shortened in the middle (see validator.text)."""
    return safe_text(text, limit)


def quote(name: str) -> str:
    return f"'{show(name, 80)}'"
