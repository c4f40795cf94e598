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

from typing import TYPE_CHECKING, Any

from validator.errors import DataError, UsageError, ValidatorError

if TYPE_CHECKING:
    from validator.config import Profile, load_profile
    from validator.findings import Finding, Report, Severity, Status, Verdict
    from validator.pipeline import validate
    from validator.scoring.options import Progress, ScoreOptions
    from validator.submission import validate_zip

# The rest of the public API is imported on first use, so that ``robust-validate --version``
# and commands that do not score load neither the checks nor the scoring machinery.
_LAZY = {
    "Profile": "validator.config",
    "load_profile": "validator.config",
    "Finding": "validator.findings",
    "Report": "validator.findings",
    "Severity": "validator.findings",
    "Status": "validator.findings",
    "Verdict": "validator.findings",
    "validate": "validator.pipeline",
    "Progress": "validator.scoring.options",
    "ScoreOptions": "validator.scoring.options",
    "validate_zip": "validator.submission",
}


def __getattr__(name: str) -> Any:
    """The public names above, imported when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'validator' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
