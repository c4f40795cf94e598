"""One module per rule family; importing this package registers every check."""

from __future__ import annotations

from validator.checks import budget, compat, interface, platform_conversion, precision, runtime
from validator.checks import ensemble as ensemble
from validator.checks.loading import check_load
from validator.checks.registry import CHECKS, CheckSpec, Stage

__all__ = [
    "CHECKS",
    "CheckSpec",
    "Stage",
    "budget",
    "check_load",
    "compat",
    "interface",
    "platform_conversion",
    "precision",
    "runtime",
]
