"""Human-readable numbers with their unit (every figure in a report says its unit)."""

from __future__ import annotations


def si(value: float, unit: str = "", digits: int = 2) -> str:
    """``4.12 G multiply-adds``-style text: decimal prefixes (k, M, G, T)."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}f} {prefix}{' ' + unit if unit else ''}".rstrip()
    return f"{value:g}{' ' + unit if unit else ''}"


def size_bytes(value: float) -> str:
    """Bytes in decimal megabytes, as the competition's "120Mb" limit is written."""
    return f"{value / 1e6:.2f} MB"
