"""A report in the terminal: the checks table, the score (Track 1) or detection (Track 2) table
with its caption, and the summary line."""

from __future__ import annotations

from typing import Any

from rich.console import Console
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


def render_report(
    report: Report, console: Console, *, quiet: bool = False, strict: bool = False
) -> None:
    """Print the checks table (unless ``quiet``), the score table if any, and a summary line
    (FAIL whenever the exit status is 1: a blocking check, or a warning under ``strict``)."""
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
    console.print(summary_line(report, strict=strict))


def _checks_table(report: Report) -> Table:
    model = safe_text(report.model.get("path", "?"))
    profile = safe_text(report.profile.get("name"))
    title = Text(f"robust-validate: {model} (profile {profile})")
    table = Table(title=title)
    # Narrow figure columns leave the message most of an 80-column terminal; long words (paths)
    # fold only when they cannot fit a line of their own.
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("measured", justify="right", max_width=10)
    table.add_column("limit", justify="right", max_width=9)
    table.add_column("message", overflow="fold", ratio=1, min_width=20)
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
    if isinstance(value, (list, tuple)):  # a shape: N x 3 x 224 x 224
        return " x ".join(_figure(v) for v in value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    if isinstance(value, (int, float)) and abs(value) >= 10_000:
        return si(float(value))
    return str(value)


def _score_table(score: dict[str, Any]) -> Table:
    if score.get("task") == "detection":
        return _detection_table(score)
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
    worst = score.get("worst_case")
    if worst and worst.get("images"):
        table.add_row(
            "worst case per image", "attacked", str(worst["images"]), str(worst["correct"]),
            _accuracy(worst["accuracy"]), "", "", style="italic",
        )  # fmt: skip
    table.caption = _final_caption(score)
    if score.get("whitebox_gradients"):  # where the on-the-fly white-box attacks differentiated
        table.caption += f"\nwhite-box gradients: {safe_text(score['whitebox_gradients'])}"
    return table


def score_labels(score: dict[str, Any]) -> str:
    """Words that qualify a score: randomized (expectation over runs) and upper bound."""
    words = []
    random = score.get("randomized")
    if random:
        words.append(f"randomized: expectation over {random['draws_per_image']} runs per image")
    if score.get("bound") == "upper":
        words.append(str(score.get("bound_note") or "upper bound"))
    return f" ({'; '.join(words)})" if words else ""


def _detection_table(score: dict[str, Any]) -> Table:
    """Track 2: per set, the images flagged adversarial at the best-F1 threshold."""
    table = Table(title=Text(f"detection score on {score.get('dataset')}", style="italic"))
    for column in ("set / group", "kind", "images", "flagged", "rate"):
        table.add_column(column, justify="left" if column in ("set / group", "kind") else "right")
    for entry in score.get("sets", []):
        rate = entry.get("detection_rate", entry.get("false_positive_rate"))
        what = "detected" if "detection_rate" in entry else "false pos." if rate is not None else ""
        table.add_row(
            Text(entry["name"]),
            entry["kind"],
            str(entry["images"]),
            str(entry["flagged"]),
            f"{_accuracy(rate)} {what}".strip(),
        )
    for entry in score.get("corruptions", []):
        table.add_row(
            Text(f"clean, {entry['family']}"),
            "corruption",
            str(entry["images"]),
            str(entry["flagged"]),
            f"{_accuracy(entry['false_positive_rate'])} false pos.",
        )
    table.caption = _detection_caption(score)
    return table


def _detection_caption(score: dict[str, Any]) -> str:
    if score.get("f1") is None:
        return f"F1: n/a (no adversarial image); positive = {score.get('positive')}"
    interval = score.get("f1_interval") or [float("nan")] * 2
    return (
        f"F1 {score['f1']:.4f} (95% interval {interval[0]:.3f}-{interval[1]:.3f}) at threshold "
        f"{score['threshold']} ({score['rule']}, positive = {score['positive']}); precision "
        f"{_accuracy(score['precision'])}, recall {_accuracy(score['recall'])}, AUROC "
        f"{_accuracy(score['auroc'])}, AP {_accuracy(score['average_precision'])}"
    )


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
        f"{score_labels(score)}"
    )


def summary_line(report: Report, *, strict: bool = False) -> Text:
    """``PASS  12 checks: 11 pass, 1 warn`` style one-liner; FAIL whenever the run fails (a
    blocking check, or any warning under ``strict``)."""
    counts: dict[str, int] = {}
    for finding in report.findings:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    failed = [f.id for f in report.findings if f.blocks]
    strict_fail = strict and report.verdict is Verdict.PASS and bool(report.warnings)
    failed_run = report.verdict is Verdict.FAIL or strict_fail
    text = Text("FAIL" if failed_run else "PASS", style="bold red" if failed_run else "bold green")
    if strict_fail:
        text.append(" (--strict: warnings fail)", style="red")
    text.append(f"  {len(report.findings)} checks: {parts}")
    if failed:
        text.append(f"; failed: {', '.join(failed)}")
    warned = _warned(report.findings)
    if warned:
        text.append(f"; warnings: {', '.join(warned)}")
    if report.score is not None:
        final = report.score["final"]
        text.append(f"; score {final:.4f}" if final is not None else "; score n/a")
        if final is not None and report.score.get("bound") == "upper":
            text.append(" (upper bound)")
        if final is not None and report.score.get("randomized"):
            text.append(" (randomized)")
    return text


def _warned(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings if f.is_warning]
