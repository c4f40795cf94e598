"""RESULTS/index.html: one self-contained static page (styles and script inline, nothing
fetched; a Content-Security-Policy forbids any request) with the sortable leaderboard and, per
submission, its checks, per-set accuracy bars with 95% intervals, ensemble evidence and masking
warnings. Every string from a submission or a report goes through ``escape``; the per-set
chart is validator.reporting.html's, shared with the single-model ``--html`` report.

Sortable cells carry the JSON value in ``data-value`` so sorting is numeric and a test can
compare the page with leaderboard.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from validator.reporting.html.charts import IntervalRow, interval_chart
from validator.units import si

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#1a202c;margin:0;background:#f7fafc}
main{max-width:1200px;margin:0 auto;padding:20px}h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #e2e8f0;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#edf2f7}#leaderboard th{cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok,.pass{color:#276749}.fail,.error,.timeout,.memory{color:#c53030}.warn{color:#b7791f}
.invalid,.skip,.pending,.meta{color:#718096}.warning{background:#fffaf0;border-left:4px solid
#dd6b20;padding:4px 10px;margin:6px 0}
svg.chart text{font:12px system-ui,sans-serif;fill:#1a202c}svg.chart text.tick{fill:#718096}
"""

_SCRIPT = """
document.querySelectorAll('#leaderboard th').forEach(function (th, column) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#leaderboard tbody');
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    var numeric = th.dataset.type === 'num';
    document.querySelectorAll('#leaderboard th').forEach(function (h) {
      h.removeAttribute('aria-sort');
    });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
      if (x === '' || y === '') { return (x === '') - (y === ''); }
      var order = numeric ? Number(x) - Number(y) : (x < y ? -1 : x > y ? 1 : 0);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

# (column, heading, numeric)
_SHOWN = (
    ("rank", "rank", True), ("id", "id", False), ("status", "status", False),
    ("verdict", "verdict", False), ("final", "final", True), ("clean", "clean", True),
    ("attacked", "attacked", True), ("params", "params", True), ("macs", "MACs", True),
    ("failed_checks", "failed checks", False), ("seconds", "seconds", True),
)  # fmt: skip


def leaderboard_page(document: Mapping[str, Any], reports: Mapping[str, Any]) -> str:
    """The whole page for a leaderboard.json ``document`` and each id's report (or None)."""
    rows = document["rows"]
    anchors = {name: f"s{i}" for i, name in enumerate(sorted(r["id"] for r in rows))}
    counts = ", ".join(f"{n} {status}" for status, n in document["counts"].items() if n)
    head = (
        f"<h1>robust-validate leaderboard</h1><p class=meta>profile {escape(document['profile'])}"
        f"; MACs in the {escape(document['macs_convention'])} convention (multiply-adds, batch 1)"
        f"; scores are accuracies with 95% Wilson intervals; {escape(counts)}"
        f"{'' if document['complete'] else '; run in progress'}</p>"
    )
    table = _leaderboard(rows, anchors)
    sections = "".join(_section(r, anchors[r["id"]], reports.get(r["id"])) for r in rows)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>robust-validate leaderboard</title><style>{_CSS}</style></head>"
        f"<body><main>{head}{table}<h2>Submissions</h2>{sections}</main>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _leaderboard(rows: Sequence[Mapping[str, Any]], anchors: Mapping[str, str]) -> str:
    heads = "".join(
        f'<th data-key="{key}" data-type="{"num" if numeric else "text"}">{title}</th>'
        for key, title, numeric in _SHOWN
    )
    body = "".join(f"<tr>{_cells(row, anchors[row['id']])}</tr>" for row in rows)
    return f'<table id="leaderboard"><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>'


def _cells(row: Mapping[str, Any], anchor: str) -> str:
    cells = []
    for key, _, numeric in _SHOWN:
        value = row[key]
        raw = ";".join(value) if isinstance(value, list) else "" if value is None else value
        shown = _shown(key, row)
        if key == "id":
            shown = f'<a href="#{anchor}">{shown}</a>'
        css = "num" if numeric else escape(str(row[key])) if key in ("status", "verdict") else ""
        cells.append(f'<td class="{css}" data-value="{escape(str(raw))}">{shown}</td>')
    return "".join(cells)


def _shown(key: str, row: Mapping[str, Any]) -> str:
    """A cell's text (escaped): scores with their interval, counts in SI units."""
    value = row[key]
    if value is None:
        return ""
    if key in ("final", "clean", "attacked"):
        low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
        interval = f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None else ""
        return f"{value:.4f}{interval}"
    if key in ("params", "macs"):
        return escape(si(float(value)))
    if key == "seconds":
        return f"{value:.1f}"
    if isinstance(value, list):
        return escape(", ".join(value))
    return escape(str(value))


def _section(row: Mapping[str, Any], anchor: str, report: Mapping[str, Any] | None) -> str:
    title = f'<h2 id="{anchor}">{escape(row["id"])}</h2>'
    status = escape(row["status"])
    line = f'<p>status <b class="{status}">{status}</b>'
    if row["verdict"]:
        line += f', verdict <b class="{escape(row["verdict"])}">{escape(row["verdict"])}</b>'
    if row["reason"]:
        line += f": {escape(row['reason'])}"
    if row["duplicate_of"]:
        line += f" (identical to {escape(row['duplicate_of'])}, evaluated once)"
    parts = [title, line + "</p>"]
    if report is not None:
        parts += [_masking(report), _checks(report), _bars(report), _ensemble(report)]
    return f'<section class="submission">{"".join(parts)}</section>'


def _checks(report: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{escape(c["id"])}</td><td class="{escape(c["status"])}">'
        f"{escape(c['status'])}</td><td>{escape(c['severity'])}</td>"
        f"<td>{escape(str(c['message']))}</td></tr>"
        for c in report.get("checks") or []
    )
    head = "<tr><th>check</th><th>status</th><th>severity</th><th>message</th></tr>"
    return f'<table class="checks"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _bars(report: Mapping[str, Any]) -> str:
    """Accuracy per set on a fixed 0-1 scale, the 95% interval drawn as a whisker (the chart
    the single-model --html report draws)."""
    score = report.get("score")
    if not score or not score.get("sets"):
        return ""
    rows = []
    for entry in score["sets"]:
        low, high = entry.get("interval") or (None, None)
        kind, accuracy = str(entry.get("kind")), entry.get("accuracy")
        rows.append(IntervalRow(str(entry["name"]), kind, accuracy, low, high))
    return interval_chart(rows, "accuracy per set (95% interval)")


def _ensemble(report: Mapping[str, Any]) -> str:
    evidence = (report.get("measurements") or {}).get("ensemble")
    if not isinstance(evidence, Mapping):
        return ""
    members = "".join(
        f"<li>model {escape(str(m.get('model')))}: {escape(', '.join(m.get('starts') or []))} "
        f"&rarr; {escape(', '.join(m.get('ends') or []))}, {escape(si(float(m.get('macs') or 0)))}"
        f" MACs ({float(m.get('share') or 0):.0%})</li>"
        for m in evidence.get("members") or []
    )
    fusion = evidence.get("fusion")
    fused = f"; fusion: {escape(str(fusion))}" if fusion else ""
    return (
        f'<p class="ensemble">ensemble analysis: <b>{escape(str(evidence.get("verdict")))}</b>'
        f" - {escape(str(evidence.get('reason', '')))}{fused}</p>"
        + (f"<ul>{members}</ul>" if members else "")
    )


def _masking(report: Mapping[str, Any]) -> str:
    warnings = [
        c for c in report.get("checks") or [] if c["id"] == "masking" and c["status"] != "pass"
    ]
    return "".join(f'<p class="warning">masking: {escape(c["message"])}</p>' for c in warnings)
