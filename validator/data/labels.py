"""Label files (``label.txt``: ``<image name> <label>`` per line), read as a stream.

The file is opened without blocking and must be a regular file of at most MAX_LABEL_FILE_BYTES;
it is read line by line (a line is at most MAX_LINE_BYTES), so a million lines cost time, not
memory. A label is 1 to 9 ASCII digits, maybe after a minus (not ``+3``, ``3_0``, ``1e3`` or
an Arabic-Indic digit); an image name is a relative path that stays inside the set's folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from validator.errors import DataError
from validator.files import escapes, open_regular

MAX_LABEL_FILE_BYTES = 256 * 2**20  # ~6 million lines of 40 bytes
MAX_LINE_BYTES = 4096
_LABEL = re.compile(r"-?[0-9]{1,9}", re.ASCII)  # negative: out of range, not malformed
_BOM = "\ufeff"


def parse_label(text: str) -> int | None:
    """The label written as ``text`` (ASCII digits only, at most 9, maybe a minus), or None."""
    return int(text) if _LABEL.fullmatch(text) else None


def parse_line(line: str, where: str) -> tuple[str, int] | None:
    """``(image name, label)`` of one line, None for a blank line, DataError otherwise. The name
    may contain spaces (the label is the last field); ``./a.png`` and ``a.png`` are the same."""
    text = line.strip()
    if not text:
        return None
    parts = text.rsplit(None, 1)
    label = parse_label(parts[1]) if len(parts) == 2 else None
    if label is None:
        raise DataError(
            f"{where}: expected '<image name> <label>' with the label in ASCII digits, "
            f"got {text[:80]!r}"
        )
    name = parts[0]
    if escapes(name):
        raise DataError(f"{where}: {name!r} is outside the set's folder")
    if "//" in name or name.startswith("./") or "/./" in name or name.endswith(("/", "/.")):
        name = "/".join(part for part in name.split("/") if part not in ("", "."))
    return name, label


def label_lines(label_file: Path) -> Iterator[tuple[int, str, int]]:
    """``(line number, image name, label)`` for each non-blank line of ``label_file``."""
    handle = open_regular(label_file, "label file", MAX_LABEL_FILE_BYTES, DataError)
    with handle:
        lineno = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise DataError(f"{label_file}:{lineno}: line longer than {MAX_LINE_BYTES} bytes")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{label_file}:{lineno}: not UTF-8 text") from None
            text = line.lstrip(_BOM) if lineno == 1 else line
            try:
                parsed = parse_line(text, "")  # where: only spelled out on an error
            except DataError as exc:
                raise DataError(f"{label_file}:{lineno}{exc}") from None
            if parsed is not None:
                yield lineno, *parsed
