"""pytest plugin for robust-validate (registered through the ``pytest11`` entry point).

Configure a model (``--robust-model`` or ``robust_model`` in ``[tool.pytest.ini_options]``) and
every competition rule becomes a test; hand-written tests get the ``robust_report`` and
``robust_validate`` fixtures and the assertion helpers exported here.

The exports are imported on first use: pytest imports this package in every session, and the
validator library (onnx, onnxruntime) should load only in sessions that check a model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_plugin.assertions import (
        assert_check_fails,
        assert_check_passes,
        assert_report_passes,
        assert_score_at_least,
    )
    from pytest_plugin.outcomes import EvaluationError, RobustCheckWarning
    from pytest_plugin.settings import ScoreKind

_EXPORTS = {
    "assert_check_fails": "pytest_plugin.assertions",
    "assert_check_passes": "pytest_plugin.assertions",
    "assert_report_passes": "pytest_plugin.assertions",
    "assert_score_at_least": "pytest_plugin.assertions",
    "EvaluationError": "pytest_plugin.outcomes",
    "RobustCheckWarning": "pytest_plugin.outcomes",
    "ScoreKind": "pytest_plugin.settings",
}

__all__ = [
    "EvaluationError",
    "RobustCheckWarning",
    "ScoreKind",
    "assert_check_fails",
    "assert_check_passes",
    "assert_report_passes",
    "assert_score_at_least",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
