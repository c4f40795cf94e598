"""The results folder: every file written atomically (a temporary file renamed into place),
and the cache of finished evaluations keyed by fingerprint.

``RESULTS/_cache/<fingerprint>.json`` is the record that an evaluation finished; it is written
last, so a run killed at any moment leaves either a whole record or none, and a resumed run
redoes exactly the evaluations that have none.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from validator.batch.result import Result
from validator.errors import UsageError

CACHE = "_cache"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename,
    so a reader (or a resumed run) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def dumps(data: Any) -> str:
    """Indented JSON, keys in a stable order, ending with a newline."""
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


class Store:
    """The results folder of one batch."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            (root / CACHE).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot write {root}: {exc.strerror or exc}") from None
        if not os.access(root, os.W_OK):
            raise UsageError(f"cannot write {root}: permission denied")

    def cached(self, key: str) -> Result | None:
        """The finished result for fingerprint ``key``, if one was recorded."""
        data = read_json(self.root / CACHE / f"{key}.json")
        if data is None:
            return None
        try:
            return Result.from_dict(data)
        except (KeyError, TypeError, ValueError):
            return None  # a record this version cannot read is redone

    def record(self, key: str, result: Result, ids: list[str]) -> None:
        """Write each id's report, then the cache record that makes the result final."""
        if result.report is not None:
            for entry_id in ids:
                write_atomic(self.root / entry_id / "report.json", dumps(result.report))
        write_atomic(self.root / CACHE / f"{key}.json", dumps(result.to_dict()))

    def write(self, name: str, text: str) -> None:
        """One of the batch's own files (leaderboards, page), atomically."""
        write_atomic(self.root / name, text)
