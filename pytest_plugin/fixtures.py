"""Fixtures for hand-written tests: the configured model's report, and a report factory.

Both share the session cache of the generated tests, so a model is parsed once per session
whichever of them asks first. The validator library is imported only when a fixture runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_plugin.reports import ReportFactory
    from validator.findings import Report

NO_MODEL = (
    "no model configured for robust-validate: pass --robust-model PATH or set "
    "robust_model in [tool.pytest.ini_options]"
)


@pytest.fixture(scope="session")
def robust_model_path(request: pytest.FixtureRequest) -> Path:
    """The configured model under test (tests using it run once per configured model)."""
    model: Path | None = getattr(request, "param", None)
    if model is None:
        pytest.fail(NO_MODEL, pytrace=False)
    return model


@pytest.fixture(scope="session")
def robust_report(request: pytest.FixtureRequest, robust_model_path: Path) -> Report:
    """The :class:`validator.Report` of the configured model under the configured profile (and
    with ``report.score`` filled when a score threshold is configured)."""
    from pytest_plugin.reports import session_reports

    return session_reports(request.config).configured(robust_model_path)


@pytest.fixture(scope="session")
def robust_validate(request: pytest.FixtureRequest) -> ReportFactory:
    """A factory: ``robust_validate("model.onnx", profile="preliminary")`` returns a Report."""
    from pytest_plugin.reports import ReportFactory, session_reports

    return ReportFactory(session_reports(request.config), request.config.rootpath)
