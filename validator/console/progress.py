"""Progress of scored and attacked sets: live bars on a terminal, one line per set elsewhere
(both implement validator.scoring.engine.Progress)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from validator.console.terminal import make_console


class _ImagesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} img/s" if speed else "", style="cyan")


class _Fooled(ProgressColumn):
    """``fooled 12/40 (30%)``: attack success so far (blank while scoring)."""

    def render(self, task: Task) -> Text:
        fooled = task.fields.get("fooled")
        if fooled is None:
            return Text("")
        done = int(task.completed)
        share = f" ({fooled / done:.0%})" if done else ""
        return Text(f"fooled {fooled}/{done}{share}", style="magenta")


class ProgressBars:
    """A rich progress bar per scored or attacked set (implements
    validator.scoring.engine.Progress)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.fields[activity]} {task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            _Fooled(),
            _ImagesPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._fooled: int | None = None

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """Add a bar for ``set_name``."""
        self._progress.start()
        self._fooled = 0 if activity == "attacking" else None
        self._task = self._progress.add_task(
            set_name, total=total, activity=activity, fooled=self._fooled
        )

    def advance(self, images: int, fooled: int | None = None) -> None:
        """Move the current bar (and add to its attack-success count)."""
        if self._task is None:
            return
        if fooled is not None and self._fooled is not None:
            self._fooled += fooled
            self._progress.update(self._task, fooled=self._fooled)
        self._progress.advance(self._task, images)

    def finish(self, skipped: str | None = None) -> None:
        """Leave the finished bar on screen (relabelled when the set was skipped)."""
        if self._task is not None and skipped is not None:
            self._progress.update(self._task, activity="skipped", fooled=None)
        self._task = None

    def close(self) -> None:
        """Stop redrawing."""
        self._progress.stop()


class ProgressLines:
    """Progress for logs and pipes: one plain line per finished set on stderr (what bars would
    show at the end), so a long ``attack`` run in CI is never silent."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._set: tuple[str, int, str] | None = None
        self._done, self._fooled, self._began = 0, 0, 0.0

    def start(self, set_name: str, total: int, activity: str = "scoring") -> None:
        """Remember the set and the time."""
        self._set, self._done, self._fooled = (set_name, total, activity), 0, 0
        self._began = time.monotonic()

    def advance(self, images: int, fooled: int | None = None) -> None:
        """Count."""
        self._done += images
        self._fooled += fooled or 0

    def finish(self, skipped: str | None = None) -> None:
        """Print ``attacking NAME: 10/10 images, fooled 3 (30%), 4.2 s``."""
        if self._set is None:
            return
        name, total, activity = self._set
        if skipped is not None:
            self._console.print(Text(f"skipped {name}: {skipped}", style="dim"), soft_wrap=True)
            self._set = None
            return
        line = f"{activity} {name}: {self._done}/{total} images"
        if activity == "attacking":
            share = f" ({self._fooled / self._done:.0%})" if self._done else ""
            line += f", fooled {self._fooled}{share}"
        line += f", {time.monotonic() - self._began:.1f} s"
        self._console.print(Text(line, style="dim"), soft_wrap=True)
        self._set = None


@contextmanager
def progress_bars(
    enabled: bool = True, lines: bool = False
) -> Iterator[ProgressBars | ProgressLines | None]:
    """Progress bars on stderr when it is a terminal and ``enabled``; otherwise, with ``lines``,
    one line per finished set; else None."""
    console = make_console(stderr=True)
    if not enabled:
        yield None
        return
    if not console.is_terminal:
        yield ProgressLines(console) if lines else None
        return
    bars = ProgressBars(console)
    try:
        yield bars
    finally:
        bars.close()
