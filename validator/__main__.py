"""``python -m validator`` does what the ``robust-validate`` command does."""

from __future__ import annotations

from validator.cli.main import main

if __name__ == "__main__":
    main()
