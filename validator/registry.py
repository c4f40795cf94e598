"""A small typed registry that answers unknown names with "did you mean"."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

from validator.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> item mapping; looking up an unknown name raises UsageError with suggestions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a name can be registered only once."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item called ``name``, or UsageError naming the closest registered names."""
        try:
            return self._items[name]
        except KeyError:
            raise UsageError(unknown_name_message(self.kind, name, self._items)) from None

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())


def unknown_name_message(kind: str, name: str, known: object) -> str:
    """``unknown <kind> 'x'; did you mean 'y'? (known: ...)`` for a user-facing error."""
    names = sorted(str(k) for k in known)  # type: ignore[attr-defined]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(names)})"
