"""robust-validate: check an ONNX classifier against a robustness competition's rules and score it.

Public API::

    from validator import validate
    report = validate("model.onnx", profile="final")
    report.verdict, report.findings, report.measurements
"""

from __future__ import annotations

__version__ = "0.1.0"

from validator.config import Profile, load_profile
from validator.errors import DataError, UsageError, ValidatorError
from validator.findings import Finding, Report, Severity, Status, Verdict
from validator.pipeline import validate

__all__ = [
    "DataError",
    "Finding",
    "Profile",
    "Report",
    "Severity",
    "Status",
    "UsageError",
    "ValidatorError",
    "Verdict",
    "__version__",
    "load_profile",
    "validate",
]
