"""One declared schema for every TOML input (profiles and attack suites).

A schema maps each known key to a rule; a rule checks one value and returns it in its final form
(an int, a finite float, an Enum member, a tuple). Anything else is refused with a UsageError that
names the file and the key: unknown keys get "did you mean", numbers are range-checked and
finite, names that become folders are plain names. Adding a field is one ``key: Rule`` entry.
"""

from __future__ import annotations

import enum
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from validator.errors import UsageError
from validator.files import read_limited
from validator.registry import unknown_name_message

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_TOML_BYTES = 1_000_000  # a profile or suite is a few hundred bytes; refuse anything huge
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class Invalid(Exception):
    """A value a rule refuses; ``key`` is filled in on the way up to the table that holds it."""

    def __init__(self, reason: str, key: str = "") -> None:
        super().__init__(reason)
        self.reason, self.key = reason, key

    def under(self, key: str) -> Invalid:
        """The same refusal, one level further from the root (``attack[0].eps``)."""
        joined = key if not self.key else f"{key}{'' if self.key[0] == '[' else '.'}{self.key}"
        return Invalid(self.reason, joined)


class Rule(Protocol):
    """Checks one value from a TOML file and returns it in its final form."""

    def __call__(self, value: Any, /) -> Any:
        """The checked value, or Invalid with the reason."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Int:
    """A whole number in [low, high] (TOML writes 5e9 as a float: whole floats are accepted)."""

    low: int
    high: int

    def __call__(self, value: Any) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"needs a whole number, got {_shown(value)}")
        if not self.low <= value <= self.high:
            raise Invalid(f"{value} is out of range {self.low}..{self.high}")
        return value


@dataclass(frozen=True)
class Float:
    """A finite number in [low, high]."""

    low: float
    high: float

    def __call__(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(f"needs a number, got {_shown(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise Invalid(f"needs a finite number, got {value}")
        if not self.low <= number <= self.high:
            raise Invalid(f"{value} is out of range {self.low:g}..{self.high:g}")
        return number


@dataclass(frozen=True)
class Text:
    """A single line of printable text (shown in reports, never used as a path)."""

    max_len: int = 200

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"needs a string, got {_shown(value)}")
        if len(value) > self.max_len or not value.isprintable():
            raise Invalid(f"needs printable text of at most {self.max_len} characters")
        return value


@dataclass(frozen=True)
class Name:
    """A plain name that may become a file or folder name: letters, digits, ``. _ + -``, not
    starting with a dot or dash (so never ``..``, never a path)."""

    max_len: int = 64

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"needs a name, got {_shown(value)}")
        if len(value) > self.max_len or not _PLAIN_NAME.fullmatch(value):
            raise Invalid(
                f"{_shown(value)} is not a plain name (letters, digits, '._+-', not starting "
                f"with '.' or '-', at most {self.max_len} characters)"
            )
        return value


@dataclass(frozen=True)
class Choice:
    """One of a closed set of names; an Enum class gives its members."""

    what: str
    choices: tuple[str, ...] | type[enum.Enum]

    def __call__(self, value: Any) -> Any:
        names = (
            [m.value for m in self.choices]
            if isinstance(self.choices, type)
            else list(self.choices)
        )
        if not isinstance(value, str) or value not in names:
            raise Invalid(unknown_name_message(self.what, str(value)[:60], names))
        return self.choices(value) if isinstance(self.choices, type) else value


@dataclass(frozen=True)
class ListOf:
    """A list of ``min_len`` to ``max_len`` items, each checked by ``item``; returns a tuple."""

    item: Rule
    max_len: int = 1000
    min_len: int = 0

    def __call__(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(f"needs a list, got {_shown(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            size = (
                f"exactly {self.min_len}"
                if self.min_len == self.max_len
                else (f"{self.min_len} to {self.max_len}")
            )
            raise Invalid(f"needs {size} items, got {len(value)}")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item(item))
            except Invalid as exc:
                raise exc.under(f"[{i}]") from None
        return tuple(out)


@dataclass(frozen=True)
class MapOf:
    """A table whose keys are checked by ``key`` and values by ``value``."""

    key: Rule
    value: Rule

    def __call__(self, data: Any) -> dict[Any, Any]:
        if not isinstance(data, dict):
            raise Invalid(f"needs a table, got {_shown(data)}")
        out = {}
        for k, v in data.items():
            try:
                out[self.key(k)] = self.value(v)
            except Invalid as exc:
                raise exc.under(str(k)) from None
        return out


@dataclass(frozen=True)
class Schema:
    """A table with known keys: ``rules`` says how each is checked, ``required`` which must be
    there; an unknown key is refused with "did you mean" (``what`` names the kind of key)."""

    what: str
    rules: Mapping[str, Rule]
    required: frozenset[str] = field(default_factory=frozenset)

    def __call__(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid(f"needs a table, got {_shown(data)}")
        for key in data:
            if key not in self.rules:
                raise Invalid(unknown_name_message(self.what, str(key)[:60], self.rules))
        for key in sorted(self.required - set(data)):
            raise Invalid("missing").under(key)
        out = {}
        for key, value in data.items():
            try:
                out[key] = self.rules[key](value)
            except Invalid as exc:
                raise exc.under(key) from None
        return out


@dataclass(frozen=True)
class Tagged:
    """A table whose ``tag`` key chooses the schema for the rest (an ``[[attack]]`` by kind)."""

    tag: str
    variants: Mapping[str, Schema]

    def __call__(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise Invalid(f"needs a table, got {_shown(data)}")
        if self.tag not in data:
            known = ", ".join(sorted(self.variants))
            raise Invalid(f"missing: give one of {known}").under(self.tag)
        try:
            kind = Choice(self.tag, tuple(self.variants))(data.get(self.tag))
        except Invalid as exc:
            raise exc.under(self.tag) from None
        rest = self.variants[kind]({k: v for k, v in data.items() if k != self.tag})
        return {self.tag: kind, **rest}


def check(data: Any, schema: Rule, source: str) -> Any:
    """``data`` checked by ``schema``, or UsageError ``<source>: <key>: <reason>``."""
    try:
        return schema(data)
    except Invalid as exc:
        where = f"{source}: {exc.key}" if exc.key else source
        raise UsageError(f"{where}: {exc.reason}") from None


def load_toml(path: Path, what: str, schema: Rule) -> Any:
    """Read the TOML file ``path`` (a regular file of at most MAX_TOML_BYTES) and check it."""
    source = f"{what} {path}"
    raw = read_limited(path, what, MAX_TOML_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source} is not valid TOML: {exc}") from None
    except RecursionError:
        raise UsageError(f"{source} is not valid TOML: nested too deeply") from None
    return check(data, schema, source)


def names_of(values: Iterable[enum.Enum]) -> tuple[str, ...]:
    """The values of Enum members, as Choice wants them."""
    return tuple(str(v.value) for v in values)
