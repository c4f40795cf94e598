"""The terminal reporter: the only package that imports rich. Each front end (check, attack,
detection, batch) renders through these functions; the library itself never prints."""

from validator.console.batch import BatchDisplay, batch_display, render_batch_summary
from validator.console.progress import ProgressBars, ProgressLines, progress_bars
from validator.console.report import render_report
from validator.console.terminal import make_console, print_error

__all__ = [
    "BatchDisplay",
    "ProgressBars",
    "ProgressLines",
    "batch_display",
    "make_console",
    "print_error",
    "progress_bars",
    "render_batch_summary",
    "render_report",
]
