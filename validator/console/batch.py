"""A batch run in the terminal: one live line while it runs, the summary and top ten after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from validator.console.terminal import make_console


class BatchDisplay:
    """One live line for a batch run: done of total, failed, running, time left
    (implements validator.batch.BatchProgress)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed, {task.fields[running]} running"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def update(self, done: int, failed: int, running: int, total: int) -> None:
        """Redraw with the current counts."""
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("batch", total=total, completed=done,
                                                 failed=failed, running=running)  # fmt: skip
        self._progress.update(
            self._task, total=total, completed=done, failed=failed, running=running
        )

    def close(self) -> None:
        """Stop redrawing (the last state stays on screen)."""
        self._progress.stop()


@contextmanager
def batch_display(enabled: bool = True) -> Iterator[BatchDisplay | None]:
    """The batch's live display on stderr when it is a terminal and ``enabled``; else None."""
    console = make_console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    display = BatchDisplay(console)
    try:
        yield display
    finally:
        display.close()


def render_batch_summary(
    document: dict[str, Any], console: Console, out: str, evaluated: int, reused: int
) -> None:
    """``14 submissions: 9 ok, 2 timeout, 3 invalid; 5 ranked; 10 evaluated, 0 reused;
    leaderboard: OUT/index.html``, then the top ten."""
    counts = ", ".join(f"{n} {status}" for status, n in document["counts"].items() if n)
    ranked = sum(1 for row in document["rows"] if row["rank"] is not None)
    line = (
        f"{len(document['rows'])} submissions: {counts}; {ranked} ranked; {evaluated} "
        f"evaluated, {reused} reused; leaderboard: {out}"
    )
    console.print(Text(line), soft_wrap=True)
    for row in document["rows"][:10]:
        if row["rank"] is not None:
            console.print(Text(f"  {row['rank']:>3}  {row['final']:.4f}  {row['id']}"))
