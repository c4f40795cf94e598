"""pytest glue over the validator library (options, generated items, fixtures)."""

from __future__ import annotations
