"""Reporters: render one Report by name (``terminal``, ``json``)."""

from __future__ import annotations

from validator.reporting.json_report import (
    SCHEMA_VERSION,
    report_from_dict,
    report_to_dict,
    report_to_json,
)

__all__ = ["SCHEMA_VERSION", "report_from_dict", "report_to_dict", "report_to_json"]
