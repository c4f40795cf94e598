"""Where the bundled reference data lives, for a source checkout and for an installed wheel."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "ROBUST_VALIDATE_DATA"


def reference_root() -> Path | None:
    """The reference_data folder: $ROBUST_VALIDATE_DATA, the checkout beside this package, or
    the copy a wheel installs under <prefix>/share/robust-validate/; None when none exists."""
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    candidates.append(Path(__file__).resolve().parent.parent / "reference_data")
    candidates.append(Path(sys.prefix) / "share" / "robust-validate" / "reference_data")
    return next((c for c in candidates if c.is_dir()), None)


def reference_set(name: str) -> Path | None:
    """The dataset root of profile reference set ``name`` (e.g. ``final``), if present."""
    root = reference_root()
    if root is None or not (root / name).is_dir():
        return None
    return root / name
