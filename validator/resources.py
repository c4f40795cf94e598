"""Where the bundled reference data lives, for a source checkout and for an installed wheel.

The wheel carries ``reference_data/`` as the package folder ``validator/reference_data`` (see
setup.py), so ``pip install robust-validate`` finds it with no configuration. An editable
install or a plain checkout uses the ``reference_data/`` folder beside the package.
``$ROBUST_VALIDATE_DATA`` overrides both: when it is set, only that folder is used (a wrong
path is reported, never silently replaced by the bundled copy).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ROBUST_VALIDATE_DATA"
BASELINE = "baseline.onnx"
_PACKAGE = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    override = os.environ.get(ENV_VAR)
    if override:
        return [Path(override)]
    return [_PACKAGE / "reference_data", _PACKAGE.parent / "reference_data"]


def reference_root() -> Path | None:
    """The reference_data folder: $ROBUST_VALIDATE_DATA when set, else the copy installed with
    the package, else the checkout's; None when none exists."""
    return next((c for c in _candidates() if c.is_dir()), None)


def missing_reason() -> str:
    """Why reference_root() is None, in one sentence a user can act on."""
    override = os.environ.get(ENV_VAR)
    if override:
        return f"{ENV_VAR}={override} is not a folder"
    return "no reference data is installed with this copy of robust-validate"


def reference_set(name: str) -> Path | None:
    """The dataset root of profile reference set ``name`` (e.g. ``final``), if present."""
    root = reference_root()
    if root is None or not (root / name).is_dir():
        return None
    return root / name


def reference_sets() -> list[str]:
    """Names of the reference sets present (every folder holding a ``clean/`` set)."""
    root = reference_root()
    if root is None:
        return []
    return sorted(p.name for p in root.iterdir() if (p / "clean").is_dir())
