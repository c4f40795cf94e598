"""The consoles the front ends print to, and the one-line error."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from validator.text import safe_text


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    """A console that degrades to plain text when output is not a terminal (CI logs get a
    wide fixed width so messages are not folded into narrow columns)."""
    console = Console(stderr=stderr, width=width, highlight=False)
    if width is None and not console.is_terminal:
        console.width = 160
    return console


def print_error(console: Console, message: str) -> None:
    """A one-line error for usage problems (exit status 2)."""
    console.print(Text(f"error: {safe_text(message)}", style="bold red"), soft_wrap=True)
