"""The page and its building blocks as small escaping functions (no template engine: the
pieces are few, and every user-supplied string goes through ``html.escape`` in one place).

Shared by ``--html`` and the organizers' batch leaderboard page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;margin:0;
background:#f7fafc}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#e2e8f0;padding-bottom:4px}h3{font-size:14px;margin:16px 0 6px;color:#4a5568}
.meta{color:#4a5568;word-break:break-all}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #e2e8f0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.status{font-weight:600;text-transform:uppercase;font-size:12px;white-space:nowrap}
.pass{color:#276749}.fail,.error{color:#c53030}.warn{color:#b7791f}.skip{color:#718096}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:700}
.verdict.pass{background:#2f855a;color:#fff}.verdict.fail{background:#c53030;color:#fff}
.charts{display:flex;flex-wrap:wrap;gap:16px}.charts figure{margin:0;background:#fff;
border:1px solid #e2e8f0;padding:8px}figcaption{font-weight:600;margin-bottom:4px}
svg.chart text{font:12px system-ui,sans-serif;fill:#1a202c}svg.chart text.tick{fill:#718096}
.notes li{margin:2px 0}.warning{background:#fffaf0;border-left:4px solid #dd6b20;padding:6px 10px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.pair{background:#fff;border:1px solid #e2e8f0;padding:8px}.pair img{width:112px;height:112px;
image-rendering:pixelated;border:1px solid #cbd5e0}.pair .imgs{display:flex;gap:8px}
.pair .cap{font-size:12px;color:#4a5568}.wrong{color:#c53030;font-weight:600}
"""


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document (styles inline; nothing fetched)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def section(title: str, body: str, anchor: str) -> str:
    """An ``<h2>`` section with a stable id (tests and links find it by ``#anchor``)."""
    return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{body}</section>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> str:
    """A table of already-escaped cell HTML; columns in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def status(value: str) -> str:
    """A coloured status word (pass, fail, warn, skip, error)."""
    word = escape(value)
    return f'<span class="status {word}">{word}</span>'


def figure(caption: str, svg: str) -> str:
    """A captioned chart."""
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def bullet_list(items: Iterable[str], css: str = "notes") -> str:
    """A list of plain-text items (escaped)."""
    return f'<ul class="{css}">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
