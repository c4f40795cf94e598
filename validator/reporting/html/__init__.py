"""HTML reporting: inline-SVG charts and escaping templates (shared with the batch leaderboard
page) and the single-run report page."""

from validator.reporting.html.charts import IntervalRow, bar_chart, interval_chart
from validator.reporting.html.report_page import render_html

__all__ = ["IntervalRow", "bar_chart", "interval_chart", "render_html"]
