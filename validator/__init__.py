"""robust-validate: check an ONNX classifier against a robustness competition's rules and score it.

Public API::

    from validator import ScoreOptions, validate
    report = validate("model.onnx", profile="final")            # rule checks only
    report.verdict, report.findings, report.measurements
    scored = validate("model.onnx", score=ScoreOptions(data=Path("my_data")))
    scored.score["final"]                                       # 0.4 clean + 0.6 attacked
    validate("submission.zip")   # a PyTorch submission (model.py), same Report; or validate_zip
"""

from __future__ import annotations

import os

# onnxruntime >= 1.29 on Linux keeps a device id and an event cache under ~/.cache and may upload
# telemetry, unless this is set before it initialises. A validator of other people's models must
# not write outside the paths it is given nor send anything anywhere; set ORT_DISABLE_TELEMETRY=0
# yourself to opt back in.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"

from validator.config import Profile, load_profile
from validator.engine import Progress
from validator.errors import DataError, UsageError, ValidatorError
from validator.evaluation import ScoreOptions
from validator.findings import Finding, Report, Severity, Status, Verdict
from validator.pipeline import validate
from validator.submission import validate_zip

__all__ = [
    "DataError",
    "Finding",
    "Profile",
    "Progress",
    "Report",
    "ScoreOptions",
    "Severity",
    "Status",
    "UsageError",
    "ValidatorError",
    "Verdict",
    "__version__",
    "load_profile",
    "validate",
    "validate_zip",
]
