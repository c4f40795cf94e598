"""Organizers' batch runs: screen and score a folder of submissions, resumable, on local
worker processes or a Ray cluster, ending in a leaderboard (JSON, CSV and a static page)."""

from __future__ import annotations

from validator.batch.runner import BatchOptions, BatchProgress, BatchRun, run_batch

__all__ = ["BatchOptions", "BatchProgress", "BatchRun", "run_batch"]
