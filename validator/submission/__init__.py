"""PyTorch submissions: a zip holding ``model.py`` with ``class Model``, the platform's second
route. One entry point, :func:`validate_zip` (also reached through :func:`validator.validate`
when the path ends in ``.zip``). Needs the ``torch`` extra; torch is imported only in the
confined child that runs the submission's code.
"""

from __future__ import annotations

from validator.submission.route import (
    TORCH_HINT,
    is_zip_submission,
    torch_available,
    validate_zip,
)

__all__ = ["TORCH_HINT", "is_zip_submission", "torch_available", "validate_zip"]
