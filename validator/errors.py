"""Errors that mean "cannot evaluate" (bad usage, unreadable data), never a rule failure.

A model that breaks a rule is a failed check in the report, not an exception. These errors are
for situations where no honest report can be produced; the CLI maps them to exit status 2.
"""

from __future__ import annotations


class ValidatorError(Exception):
    """Base class of every error robust-validate raises on purpose."""


class UsageError(ValidatorError):
    """A bad option, profile, or path given by the user."""


class DataError(ValidatorError):
    """A dataset that cannot be read: a broken image, a bad label line, a missing file."""
