"""Text from untrusted sources made safe to show anywhere: one rule for every output.

A model file carries names, domains, doc strings, dim params and metadata its author chose; a
file name on disk may not be UTF-8 at all. Such text can hold terminal escape sequences (that
clear or rewrite the screen), bidirectional overrides (that make text read differently than it
is), other control characters, or bytes that are not UTF-8 (protobuf then hands Python a
``bytes`` object where a ``str`` is expected; Python hands surrogates for file names). Every
string that reaches a user goes through :func:`safe_text` where findings and reports are built
and rendered, and :func:`mend_model_text` turns invalid UTF-8 in a parsed model into escaped
text once, at load, so that no analysis ever sees ``bytes`` for a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # findings import this module: the command line must not pay for onnx
    import onnx

__all__ = ["mend_model_text", "safe_data", "safe_text"]


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, surrogate-escaped by Python
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def safe_text(value: object, limit: int | None = None) -> str:
    """``value`` as one printable line: bytes decoded as UTF-8 with undecodable bytes shown as
    ``\\xNN``, control and format characters (ESC, newlines, bidi overrides, surrogates)
    escaped the same way, and text longer than ``limit`` shortened in the middle."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "backslashreplace")
    else:
        text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    if limit is not None and len(text) > limit:
        half = (limit - 3) // 2
        text = f"{text[:half]}...{text[-half:]}"
    return text


def safe_data(value: Any) -> Any:
    """``value`` (JSON-like data: mappings, lists, strings, numbers) with every string and
    mapping key made safe by :func:`safe_text`; other values are returned as they are."""
    if isinstance(value, (str, bytes)):
        return safe_text(value)
    if isinstance(value, Mapping):
        return {safe_text(k) if isinstance(k, (str, bytes)) else k: safe_data(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [safe_data(v) for v in value]
    if isinstance(value, tuple):
        return tuple(safe_data(v) for v in value)
    return value


class TextCollision(ValueError):
    """Mending invalid UTF-8 would make two different names equal."""


def mend_model_text(model: onnx.ModelProto, fields: list[tuple[Any, str, bool]]) -> int:
    """Rewrite the string ``fields`` (message, field name, repeated) of ``model`` that hold
    invalid UTF-8 as escaped text (``b"a\\xff"`` becomes ``"a\\\\xff"``); returns how many
    strings were rewritten. Raises TextCollision when a rewritten string would equal one the
    model already holds, since the analysis could then merge two different tensors."""
    if not fields:
        return 0
    mended = {_decode(v) for v in _values(fields) if isinstance(v, bytes)}
    from validator.loading.proto_walk import iter_string_fields  # proto_walk is independent of text

    for message, name, repeated in iter_string_fields(model):
        for value in _values([(message, name, repeated)]):
            if isinstance(value, str) and value in mended:
                raise TextCollision(f"the name {safe_text(value, 80)!r} occurs both as "
                                    "invalid UTF-8 and as text")  # fmt: skip
    for message, name, repeated in fields:
        if repeated:
            container = getattr(message, name)
            values = [_decode(v) if isinstance(v, bytes) else v for v in container]
            del container[:]
            container.extend(values)
        else:
            setattr(message, name, _decode(getattr(message, name)))
    return len(mended)


def _values(fields: list[tuple[Any, str, bool]]) -> list[str | bytes]:
    values: list[str | bytes] = []
    for message, name, repeated in fields:
        value = getattr(message, name)
        values.extend(value if repeated else [value])
    return values


def _decode(value: str | bytes) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
