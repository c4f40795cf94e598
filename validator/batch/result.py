"""What one evaluation gave, and the batch status it means.

Status (the README's leaderboard columns say the same):
- ``ok``: the evaluation finished, whatever the verdict (a file that fails ``load`` included);
- ``timeout`` / ``memory``: a phase broke the profile's wall-time or memory limit (the first
  breach in the report's ``isolation.breaches`` decides), so part of the evaluation is missing;
  the report still says which check failed and why;
- ``error``: an isolated child crashed, or the command could not evaluate the file at all
  (no report, or an exit status other than 0 and 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from validator.vocab import Breach, SubmissionStatus

_FROM_BREACH = {
    Breach.TIMEOUT.value: SubmissionStatus.TIMEOUT,
    Breach.MEMORY.value: SubmissionStatus.MEMORY,
    Breach.CRASH.value: SubmissionStatus.ERROR,
}


@dataclass(frozen=True)
class Result:
    """What one evaluation gave: status, one-line reason, seconds, the report (None when the
    command produced none)."""

    status: SubmissionStatus
    reason: str
    seconds: float
    report: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the cache and for Ray."""
        return {
            "status": self.status.value,
            "reason": self.reason,
            "seconds": self.seconds,
            "report": self.report,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """The inverse of to_dict."""
        status = SubmissionStatus(data["status"])
        return cls(status, str(data["reason"]), float(data["seconds"]), data.get("report"))


def classify(code: int, stderr: str, report: dict[str, Any] | None, seconds: float) -> Result:
    """The status of an evaluation from the command's exit code, its error line and report."""
    if report is None or code not in (0, 1):
        lines = [line for line in stderr.splitlines() if line.strip()]
        reason = lines[-1][:400] if lines else f"the check command ended with exit code {code}"
        return Result(SubmissionStatus.ERROR, reason, seconds, report)
    breaches = (report.get("isolation") or {}).get("breaches") or []
    if breaches:
        first = breaches[0]
        status = _FROM_BREACH.get(str(first.get("breach")), SubmissionStatus.ERROR)
        return Result(status, str(first.get("reason", "")), seconds, report)
    return Result(SubmissionStatus.OK, "", seconds, report)
