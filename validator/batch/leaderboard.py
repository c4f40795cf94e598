"""The leaderboard: one row per entry of the submissions folder, ranked by the final score
among passing submissions, written as JSON and CSV.

Rows are built from the reports alone, in a fixed order, so two runs (local or Ray) give
identical leaderboards except for ``seconds``. Intervals are 95% Wilson intervals from the
reports; the final score's interval applies the profile's weights to the clean and attacked
bounds (a conservative interval: it holds when both do).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from validator import __version__
from validator.batch.result import Result
from validator.batch.submissions import Entry
from validator.vocab import SubmissionStatus

SCHEMA_VERSION = 1
TIMING_FIELDS = ("seconds",)
COLUMNS = (
    "rank", "id", "status", "verdict", "final", "final_low", "final_high", "clean", "clean_low",
    "clean_high", "attacked", "attacked_low", "attacked_high", "params", "macs",
    "failed_checks", "reason", "sha256", "duplicate_of", "seconds",
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """One entry and its result (None while it is pending or when it is invalid)."""

    entry: Entry
    result: Result | None


def build_rows(outcomes: Sequence[Outcome], macs_convention: str) -> list[dict[str, Any]]:
    """The leaderboard rows, ranked and in their published order."""
    first_of: dict[str, str] = {}
    rows = []
    for outcome in outcomes:
        row = _row(outcome, macs_convention)
        sha = outcome.entry.sha256
        if sha is not None:
            row["duplicate_of"] = first_of.setdefault(sha, outcome.entry.id)
            if row["duplicate_of"] == outcome.entry.id:
                row["duplicate_of"] = None
        rows.append(row)
    _rank(rows)
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["id"]))


def _row(outcome: Outcome, convention: str) -> dict[str, Any]:
    entry, result = outcome.entry, outcome.result
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(id=entry.id, sha256=entry.sha256, failed_checks=[])
    if not entry.valid:
        return {**row, "status": SubmissionStatus.INVALID.value, "reason": entry.reason}
    if result is None:
        return {**row, "status": SubmissionStatus.PENDING.value, "reason": ""}
    row.update(status=result.status.value, reason=result.reason, seconds=result.seconds)
    report = result.report
    if report is not None:
        row.update(_from_report(report, convention))
    return row


def _from_report(report: Mapping[str, Any], convention: str) -> dict[str, Any]:
    checks = report.get("checks") or []
    measurements = report.get("measurements") or {}
    macs = measurements.get("macs")
    failed = [c["id"] for c in checks if c["severity"] == "error" and c["status"] in _BLOCKING]
    fields: dict[str, Any] = {
        "verdict": report.get("verdict"),
        "failed_checks": failed,
        "params": measurements.get("params"),
        "macs": macs.get(convention) if isinstance(macs, Mapping) else None,
    }
    fields.update(_scores(report.get("score")))
    return fields


_BLOCKING = ("fail", "error")


def _scores(score: Mapping[str, Any] | None) -> dict[str, Any]:
    if not score:
        return {}
    fields: dict[str, Any] = {"final": score.get("final")}
    bounds = {}
    for kind in ("clean", "attacked"):
        tally = score.get(kind) or {}
        interval = tally.get("interval") or [None, None]
        fields.update({kind: tally.get("accuracy"), f"{kind}_low": interval[0]})
        fields[f"{kind}_high"] = interval[1]
        bounds[kind] = interval
    weights = score.get("weights") or {}
    known = {"clean", "attacked"} <= set(weights)
    if (
        known
        and fields["final"] is not None
        and None not in (*bounds["clean"], *bounds["attacked"])
    ):
        for side, i in (("low", 0), ("high", 1)):
            value = weights["clean"] * bounds["clean"][i]
            fields[f"final_{side}"] = value + weights["attacked"] * bounds["attacked"][i]
    return fields


def _rank(rows: list[dict[str, Any]]) -> None:
    """Standard competition ranking ("1224") by final score among passing, evaluated rows."""
    eligible = [r for r in rows if _eligible(r)]
    eligible.sort(key=lambda r: -r["final"])
    for position, row in enumerate(eligible, start=1):
        previous = eligible[position - 2] if position > 1 else None
        tied = previous is not None and previous["final"] == row["final"]
        row["rank"] = previous["rank"] if tied and previous else position


def _eligible(row: Mapping[str, Any]) -> bool:
    ok = row["status"] == SubmissionStatus.OK.value
    return ok and row["verdict"] == "pass" and row["final"] is not None


def leaderboard_json(rows: list[dict[str, Any]], profile: str, convention: str) -> dict[str, Any]:
    """The leaderboard.json document."""
    counts: dict[str, int] = {status.value: 0 for status in SubmissionStatus}
    for row in rows:
        counts[row["status"]] += 1
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "robust-validate", "version": __version__},
        "profile": profile,
        "macs_convention": convention,
        "complete": counts[SubmissionStatus.PENDING.value] == 0,
        "counts": counts,
        "columns": list(COLUMNS),
        "rows": rows,
    }


def leaderboard_csv(rows: list[dict[str, Any]]) -> str:
    """The leaderboard as CSV (failed checks joined by ';', empty cells for null)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def without_timing(document: Mapping[str, Any]) -> dict[str, Any]:
    """A leaderboard.json document with its timing fields removed (for comparing runs)."""
    rows = [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in document["rows"]]
    return {**document, "rows": rows}
