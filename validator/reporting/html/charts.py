"""Inline SVG charts: no script, no network, no charting library (a few dozen lines of SVG do
what the report needs, render the same in every browser and print well).

Every chart is a plain function of plain values, so the batch leaderboard page reuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

BAR_HEIGHT, GAP, LABEL_WIDTH, PLOT_WIDTH, VALUE_WIDTH = 18, 6, 150, 200, 140
COLOURS = {"clean": "#2b6cb0", "attacked": "#c05621", "pooled": "#6b46c1", "bar": "#2f855a"}


def bar_chart(
    rows: Sequence[tuple[str, float]],
    formatter: Callable[[float], str],
    title: str,
    limit: int = 12,
) -> str:
    """Horizontal bars, largest first, the rest summed into one ``other`` bar."""
    ranked = sorted(rows, key=lambda r: -r[1])
    if len(ranked) > limit:
        rest = sum(v for _, v in ranked[limit - 1 :])
        ranked = [*ranked[: limit - 1], (f"other ({len(rows) - limit + 1})", rest)]
    top = max((v for _, v in ranked), default=0.0) or 1.0
    total = sum(v for _, v in rows) or 1.0
    lines = []
    for i, (label, value) in enumerate(ranked):
        y = i * (BAR_HEIGHT + GAP)
        width = max(1.0, PLOT_WIDTH * value / top) if value else 0.0
        text = f"{formatter(value)} ({value / total:.0%})"
        lines.append(_bar_row(y, label, width, text, COLOURS["bar"]))
    return _svg(title, len(ranked), "".join(lines))


@dataclass(frozen=True)
class IntervalRow:
    """One set's accuracy and its 95% interval; ``kind`` picks the colour."""

    name: str
    kind: str
    accuracy: float | None
    low: float | None
    high: float | None


def interval_chart(rows: Sequence[IntervalRow], title: str) -> str:
    """Accuracy bars on a fixed 0-1 scale with the interval drawn as a whisker."""
    lines = [_axis(len(rows))]
    for i, row in enumerate(rows):
        y = i * (BAR_HEIGHT + GAP)
        accuracy = row.accuracy
        width = PLOT_WIDTH * accuracy if accuracy is not None else 0.0
        text = "n/a" if accuracy is None else f"{accuracy:.3f}"
        lines.append(_bar_row(y, row.name, width, text, COLOURS.get(row.kind, COLOURS["bar"])))
        if row.low is not None and row.high is not None:
            x0, x1 = LABEL_WIDTH + PLOT_WIDTH * row.low, LABEL_WIDTH + PLOT_WIDTH * row.high
            mid = y + BAR_HEIGHT / 2
            lines.append(
                f'<path class="whisker" d="M{x0:.1f} {mid - 5}v10M{x0:.1f} {mid}H{x1:.1f}'
                f'M{x1:.1f} {mid - 5}v10" stroke="#1a202c" stroke-width="1.5" fill="none"/>'
            )
    return _svg(title, len(rows), "".join(lines), extra=20)


def _bar_row(y: float, label: str, width: float, text: str, colour: str) -> str:
    shown = label if len(label) <= 22 else label[:21] + "\u2026"
    mid = y + BAR_HEIGHT / 2 + 4
    return (
        f'<g class="bar"><title>{escape(label)}: {escape(text)}</title>'
        f'<text x="{LABEL_WIDTH - 6}" y="{mid}" text-anchor="end">{escape(shown)}</text>'
        f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" '
        f'fill="{colour}" rx="2"/>'
        f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 6}" y="{mid}" class="value">'
        f"{escape(text)}</text></g>"
    )


def _axis(count: int) -> str:
    bottom = count * (BAR_HEIGHT + GAP)
    ticks = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = LABEL_WIDTH + PLOT_WIDTH * tick
        ticks.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{bottom}" stroke="#e2e8f0"/>'
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" class="tick">{tick:g}</text>'
        )
    return "".join(ticks)


def _svg(title: str, rows: int, body: str, extra: int = 0) -> str:
    height = max(rows, 1) * (BAR_HEIGHT + GAP) + extra
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )
