"""One run's report as a self-contained HTML page: checks, where the multiply-adds and
parameters sit, per-set accuracy with intervals, ensemble evidence, masking warnings and a
gallery of clean vs attacked images. Reads the report's plain dict (the JSON contract), so the
page shows exactly the numbers the JSON holds."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from validator.reporting.html.charts import IntervalRow, bar_chart, interval_chart
from validator.reporting.html.templates import bullet_list, figure, page, section, status, table
from validator.units import si

THUMBNAIL = 112  # pixels; images are re-encoded small so the page stays light


def render_html(report: dict[str, Any]) -> str:
    """The whole page for ``report`` (a dict as ``report.to_dict()`` gives)."""
    model = report.get("model", {}).get("path", "?")
    parts = [
        _header(report),
        section("Checks", _checks(report.get("checks", [])), "checks"),
        section("Where the cost is", _breakdown(report.get("measurements", {})), "breakdown"),
        section("Ensemble evidence", _ensemble(report.get("measurements", {})), "ensemble"),
    ]
    score = report.get("score")
    if score:
        parts.append(section("Accuracy per set", _accuracy(score), "score"))
        parts.append(section("Clean vs attacked", _gallery(score.get("gallery")), "gallery"))
    masking = [c for c in report.get("checks", []) if c["id"] in ("masking", "convertible")]
    parts.append(section("Masking", _masking(masking), "masking"))
    if report.get("notes"):
        parts.append(section("Notes", bullet_list(report["notes"]), "notes"))
    return page(f"robust-validate: {model}", "".join(parts))


def _header(report: dict[str, Any]) -> str:
    verdict = str(report.get("verdict", "?"))
    model, profile = report.get("model", {}), report.get("profile", {})
    score = report.get("score") or {}
    final = score.get("final")
    shown = f"{final:.4f}" if isinstance(final, float) else "n/a"
    return (
        f'<h1>robust-validate <span class="verdict {escape(verdict)}" id="verdict">'
        f"{escape(verdict.upper())}</span></h1>"
        f'<p class="meta">model {escape(str(model.get("path")))} &middot; sha256 '
        f"{escape(str(model.get('sha256')))} &middot; profile {escape(str(profile.get('name')))}"
        f' &middot; final score <b id="final">{shown}</b>{_qualifiers(score)}</p>'
    )


def _qualifiers(score: dict[str, Any]) -> str:
    """Randomized and upper-bound labels beside the final score."""
    words = []
    if score.get("randomized"):
        runs = escape(str(score["randomized"].get("draws_per_image")))
        words.append(
            f'<span id="randomized">randomized: expectation over {runs} runs per image</span>'
        )
    if score.get("bound") == "upper":
        note = escape(str(score.get("bound_note") or "upper bound"))
        words.append(f'<span id="bound">{note}</span>')
    return f" ({'; '.join(words)})" if words else ""


def _checks(checks: list[dict[str, Any]]) -> str:
    rows = [
        (
            escape(c["id"]),
            status(c["status"]),
            escape(c.get("severity", "")),
            escape(_figure(c.get("measured"))),
            escape(_figure(c.get("limit"))),
            escape(c.get("message", "")),
        )
        for c in checks
    ]
    headers = ("check", "status", "severity", "measured", "limit", "message")
    return table(headers, rows, numeric=frozenset({3, 4}))


def _figure(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    if isinstance(value, (int, float)) and abs(value) >= 10_000:
        return si(float(value))
    return str(value)


def _breakdown(measurements: dict[str, Any]) -> str:
    found = measurements.get("breakdown")
    if not found:
        return "<p>No breakdown: the graph could not be analysed.</p>"
    convention = found.get("convention", "?")
    charts = [
        (f"Multiply-adds by operator type ({convention})", found["macs_by_op"], _macs),
        (f"Multiply-adds by top-level block ({convention})", found["macs_by_block"], _macs),
        ("Parameters by operator type (consuming node)", found["params_by_op"], _params),
        ("Parameters by top-level block (consuming node)", found["params_by_block"], _params),
    ]
    figures = [
        figure(title, bar_chart([(k, float(v)) for k, v in data.items()], fmt, title))
        for title, data, fmt in charts
    ]
    return f'<div class="charts">{"".join(figures)}</div>'


def _macs(value: float) -> str:
    return f"{si(value)} MACs"


def _params(value: float) -> str:
    return si(value)


def _accuracy(score: dict[str, Any]) -> str:
    rows = [_interval_row(s["name"], s["kind"], s) for s in score.get("sets", [])]
    if score.get("attacked", {}).get("images"):
        rows.append(_interval_row("attacked (pooled)", "pooled", score["attacked"]))
    worst = score.get("worst_case")
    if worst and worst.get("images"):
        rows.append(IntervalRow("worst case per image", "worst", worst.get("accuracy"), None, None))
    chart = interval_chart(rows, "accuracy per set with its 95% Wilson interval")
    caption = "Accuracy per set (bar) with its 95% Wilson interval (whisker), scale 0 to 1"
    cells = [
        (escape(r.name), escape(r.kind), *_tally(s))
        for r, s in zip(
            rows,
            [*score.get("sets", []), score.get("attacked", {}), score.get("worst_case") or {}],
            strict=False,
        )
    ]
    numbers = table(("set", "kind", "images", "correct", "accuracy"), cells, frozenset({2, 3, 4}))
    return f'<div class="charts">{figure(caption, chart)}</div>{numbers}{_gradients(score)}'


def _gradients(score: dict[str, Any]) -> str:
    """Where the on-the-fly white-box attacks took their gradients (when one ran)."""
    source = score.get("whitebox_gradients")
    if not source:
        return ""
    return f'<p id="whitebox-gradients">white-box gradients: {escape(str(source))}</p>'


def _interval_row(name: str, kind: str, entry: dict[str, Any]) -> IntervalRow:
    interval = entry.get("interval") or (None, None)
    return IntervalRow(name, kind, entry.get("accuracy"), interval[0], interval[1])


def _tally(entry: dict[str, Any]) -> tuple[str, str, str]:
    accuracy = entry.get("accuracy")
    shown = "n/a" if accuracy is None else f"{accuracy:.4f}"
    return str(entry.get("images", "")), str(entry.get("correct", "")), shown


def _ensemble(measurements: dict[str, Any]) -> str:
    evidence = measurements.get("ensemble")
    if not evidence:
        return "<p>The ensemble check did not run.</p>"
    members = evidence.get("members") or []
    head = (
        f"<p>verdict <b>{escape(str(evidence.get('verdict')))}</b>: "
        f"{escape(str(evidence.get('reason', '')))}</p>"
    )
    if not members:
        return head
    rows = [
        (
            escape(", ".join(map(str, m.get("starts", [])))),
            escape(", ".join(map(str, m.get("ends", [])))),
            escape(si(float(m.get("macs", 0)))),
            f"{float(m.get('share', 0)):.1%}",
            escape(str(m.get("model", ""))),
        )
        for m in members
    ]
    headers = ("first nodes", "last nodes", "MACs", "share of MACs", "weight set")
    fusion = evidence.get("fusion")
    return (
        head
        + table(headers, rows, frozenset({2, 3}))
        + (f"<p>fusion: {escape(str(fusion))}</p>" if fusion else "")
    )


def _masking(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return "<p>No attack ran in this report, so no masking evidence was gathered.</p>"
    parts = []
    for f in findings:
        css = "warning" if f["status"] in ("warn", "fail") else ""
        parts.append(
            f'<p class="{css}">{status(f["status"])} {escape(f["id"])}: {escape(f["message"])}</p>'
        )
    return "".join(parts)


def _gallery(pairs: list[dict[str, Any]] | None) -> str:
    if not pairs:
        return (
            "<p>No gallery: it needs attacked sets on disk whose images can be matched to "
            "clean ones (by manifest.json or by name).</p>"
        )
    return '<div class="gallery">' + "".join(_pair(p) for p in pairs) + "</div>"


def _pair(pair: dict[str, Any]) -> str:
    label = pair["label"]
    clean, attacked = pair["clean"], pair["attacked"]
    images = _image(clean, label, "clean") + _image(attacked, label, "attacked")
    return (
        f'<div class="pair"><div class="cap"><b>{escape(pair["set"])}</b> &middot; '
        f'label {label}</div><div class="imgs">{images}</div></div>'
    )


def _image(side: dict[str, Any], label: int, kind: str) -> str:
    prediction = side["prediction"]
    css = "" if prediction == label else "wrong"
    return (
        f'<figure style="margin:0"><img alt="{kind} image" src="{_data_uri(Path(side["path"]))}">'
        f'<div class="cap">{kind}: <span class="{css}">predicted {prediction}</span></div></figure>'
    )


def _data_uri(path: Path) -> str:
    """A small PNG thumbnail as a data: URI (a grey square when the file cannot be read)."""
    try:
        with Image.open(path) as image:
            thumb = image.convert("RGB")
            thumb.thumbnail((THUMBNAIL, THUMBNAIL))
    except (OSError, ValueError):
        thumb = Image.new("RGB", (THUMBNAIL, THUMBNAIL), (160, 160, 160))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
