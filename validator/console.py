"""The terminal reporter: the only module that imports rich."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from validator.findings import Finding, Report, Status, Verdict
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
                console.print(Text(f"{finding.id}: {finding.message}", style=_STYLE[finding.status]))
    else:
        console.print(_checks_table(report))
        if report.score is not None:
            console.print(_score_table(report.score))
        for note in report.notes:
            console.print(Text(f"note: {note}", style="yellow"))
    console.print(summary_line(report))


def _checks_table(report: Report) -> Table:
    model = report.model.get("path", "?")
    table = Table(title=f"robust-validate: {model} (profile {report.profile.get('name')})")
    for column in ("check", "status", "measured", "limit", "message"):
        table.add_column(column, overflow="fold", no_wrap=column in ("check", "status"))
    for finding in report.findings:
        table.add_row(
            finding.id,
            Text(finding.status.value, style=_STYLE[finding.status]),
            _figure(finding.measured),
            _figure(finding.limit),
            finding.message,
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
    table = Table(title=f"score on {score.get('dataset')}")
    for column in ("set", "kind", "images", "correct", "accuracy", "95% interval"):
        table.add_column(column)
    for entry in score.get("sets", []):
        low, high = entry.get("interval", (None, None))
        interval = f"{low:.3f}-{high:.3f}" if low is not None else ""
        table.add_row(entry["name"], entry["kind"], str(entry["images"]), str(entry["correct"]),
                      f"{entry['accuracy']:.4f}", interval)
    weights = score.get("weights", {})
    table.caption = (
        f"final = {weights.get('clean')} x clean {score['clean']['accuracy']:.4f} + "
        f"{weights.get('attacked')} x attacked {score['attacked']['accuracy']:.4f} = "
        f"{score['final']:.4f}"
    )
    return table


def summary_line(report: Report) -> Text:
    """``PASS  12 checks: 11 pass, 1 warn`` style one-liner."""
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    failed = [f.id for f in report.findings if f.blocks]
    verdict = report.verdict
    text = Text(verdict.value.upper(), style="bold green" if verdict is Verdict.PASS else "bold red")
    text.append(f"  {len(report.findings)} checks: {parts}")
    if failed:
        text.append(f"; failed: {', '.join(failed)}")
    warned = _warned(report.findings)
    if warned:
        text.append(f"; warnings: {', '.join(warned)}")
    if report.score is not None:
        text.append(f"; score {report.score['final']:.4f}")
    return text


def _warned(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings if f.is_warning]


def print_error(console: Console, message: str) -> None:
    """A one-line error for usage problems (exit status 2)."""
    console.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
