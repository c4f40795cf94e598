"""The terminal reporter: the only module that imports rich."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
from rich.table import Table
from rich.text import Text

from validator.findings import Finding, Report, Status, Verdict
from validator.text import safe_text
from validator.units import si

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.WARN: "yellow",
    Status.SKIP: "dim",
    Status.ERROR: "bold magenta",
}


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    """A console that degrades to plain text when output is not a terminal (CI logs get a
    wide fixed width so messages are not folded into narrow columns)."""
    console = Console(stderr=stderr, width=width, highlight=False)
    if width is None and not console.is_terminal:
        console.width = 160
    return console


def render_report(report: Report, console: Console, *, quiet: bool = False) -> None:
    """Print the checks table (unless ``quiet``), the score table if any, and a summary line."""
    if quiet:
        for finding in report.findings:
            if finding.blocks or finding.is_warning:
                line = f"{finding.id}: {finding.message}"  # messages are escaped (findings)
                console.print(Text(line, style=_STYLE[finding.status]))
    else:
        console.print(_checks_table(report))
        if report.score is not None:
            console.print(_score_table(report.score))
        for note in report.notes:
            console.print(Text(f"note: {safe_text(note)}", style="yellow"))
    console.print(summary_line(report))


def _checks_table(report: Report) -> Table:
    model = safe_text(report.model.get("path", "?"))
    profile = safe_text(report.profile.get("name"))
    title = Text(f"robust-validate: {model} (profile {profile})")
    table = Table(title=title)
    for column in ("check", "status", "measured", "limit", "message"):
        table.add_column(column, overflow="fold", no_wrap=column in ("check", "status"))
    for finding in report.findings:
        table.add_row(
            finding.id,
            Text(finding.status.value, style=_STYLE[finding.status]),
            _figure(finding.measured),
            _figure(finding.limit),
            Text(finding.message),  # user text (paths, names) is never markup
        )
    return table


def _figure(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    if isinstance(value, (int, float)) and abs(value) >= 10_000:
        return si(float(value))
    return str(value)


def _score_table(score: dict[str, Any]) -> Table:
    # Dataset paths and set names are the user's: Text keeps them from being read as markup.
    table = Table(title=Text(f"score on {safe_text(score.get('dataset'))}", style="italic"))
    for column in ("set", "kind", "images", "correct", "accuracy", "95% interval", "skipped"):
        table.add_column(column, justify="left" if column in ("set", "kind") else "right")
    for entry in score.get("sets", []):
        name = Text(safe_text(entry["name"]))
        table.add_row(name, entry["kind"], *_tally_cells(entry), str(entry["skipped"]))
    attacked = score["attacked"]
    if attacked.get("sets", 0) > 1:
        table.add_row("attacked (pooled)", "attacked", *_tally_cells(attacked), "", style="bold")
    table.caption = _final_caption(score)
    return table


def _tally_cells(entry: dict[str, Any]) -> tuple[str, str, str, str]:
    interval = entry.get("interval")
    shown = f"{interval[0]:.3f}-{interval[1]:.3f}" if interval else ""
    return str(entry["images"]), str(entry["correct"]), _accuracy(entry["accuracy"]), shown


def _accuracy(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _final_caption(score: dict[str, Any]) -> str:
    weights = score.get("weights", {})
    clean, attacked = score["clean"]["accuracy"], score["attacked"]["accuracy"]
    if score["final"] is None:
        why = "no attacked set" if not score["attacked"].get("sets") else "no image scored"
        return f"final: n/a ({why}); clean accuracy {_accuracy(clean)}"
    return (
        f"final = {weights.get('clean')} x clean {_accuracy(clean)} + "
        f"{weights.get('attacked')} x attacked {_accuracy(attacked)} = {score['final']:.4f}"
    )


def summary_line(report: Report) -> Text:
    """``PASS  12 checks: 11 pass, 1 warn`` style one-liner."""
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    failed = [f.id for f in report.findings if f.blocks]
    verdict = report.verdict
    style = "bold green" if verdict is Verdict.PASS else "bold red"
    text = Text(verdict.value.upper(), style=style)
    text.append(f"  {len(report.findings)} checks: {parts}")
    if failed:
        text.append(f"; failed: {', '.join(failed)}")
    warned = _warned(report.findings)
    if warned:
        text.append(f"; warnings: {', '.join(warned)}")
    if report.score is not None:
        final = report.score["final"]
        text.append(f"; score {final:.4f}" if final is not None else "; score n/a")
    return text


def _warned(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings if f.is_warning]


def print_error(console: Console, message: str) -> None:
    """A one-line error for usage problems (exit status 2)."""
    console.print(Text(f"error: {safe_text(message)}", style="bold red"), soft_wrap=True)


class _ImagesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} img/s" if speed else "", style="cyan")


class ProgressBars:
    """A rich progress bar per scored set (implements validator.engine.Progress)."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("scoring {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _ImagesPerSecond(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, set_name: str, total: int) -> None:
        """Add a bar for ``set_name``."""
        self._progress.start()
        self._task = self._progress.add_task(set_name, total=total)

    def advance(self, images: int) -> None:
        """Move the current bar."""
        if self._task is not None:
            self._progress.advance(self._task, images)

    def finish(self) -> None:
        """Leave the finished bar on screen."""
        self._task = None

    def close(self) -> None:
        """Stop redrawing."""
        self._progress.stop()


@contextmanager
def progress_bars(enabled: bool = True) -> Iterator[ProgressBars | None]:
    """Progress bars on stderr when it is a terminal and ``enabled``; else None."""
    console = make_console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    bars = ProgressBars(console)
    try:
        yield bars
    finally:
        bars.close()
