"""How a finding becomes a pytest outcome, and the exception and warning types users see."""

from __future__ import annotations

import warnings

import pytest

from pytest_plugin.render import describe_finding
from validator.findings import Finding, Status


class RobustCheckWarning(UserWarning):
    """A warning-severity rule that warned. ``--robust-strict``, or ``filterwarnings =
    error::pytest_plugin.RobustCheckWarning``, turns it into a failure."""


class RuleBroken(AssertionError):
    """A generated test's failure; its text is the whole explanation, shown without traceback."""


class EvaluationError(Exception):
    """The model could not be evaluated at all (an unreadable dataset): every test of that model
    fails with this one-line message instead of a traceback."""


def judge(finding: Finding, where: str, *, strict: bool) -> None:
    """Turn one finding into a pytest outcome (pass, fail, skip, or pass with a warning)."""
    if finding.status is Status.SKIP:
        pytest.skip(finding.message.removeprefix("skipped: "))
    if finding.blocks:
        raise RuleBroken(describe_finding(finding))
    if finding.is_warning and strict:
        raise RuleBroken(describe_finding(finding) + "\n  (a warning fails in strict mode)")
    if finding.is_warning:
        # Attributed to the test's id rather than to this line of the plugin; line 0 keeps
        # linecache from trying to read a source line.
        warnings.warn_explicit(finding.message, RobustCheckWarning, filename=where, lineno=0)
