"""``robust-validate reference [NAME] [--baseline]``: where the bundled reference data is.

Prints paths only (one per line), so that ``robust-validate "$(robust-validate reference final
--baseline)"`` works in a shell. Registered on the main group by validator/cli/main.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from validator.config import load_profile
from validator.errors import ValidatorError
from validator.resources import BASELINE, missing_reason, reference_root, reference_set


@click.command("reference")
@click.argument("name", required=False)
@click.option("--baseline", is_flag=True, help="Print the bundled baseline model's path instead.")
def reference_command(name: str | None, baseline: bool) -> None:
    """Print the bundled reference data folder, or NAME's set (a profile such as final,
    preliminary), or with --baseline that set's baseline.onnx."""
    root = reference_root()
    if root is None:
        click.echo(f"error: {missing_reason()}", err=True)
        sys.exit(2)
    if name is None and not baseline:
        click.echo(str(root))
        return
    try:
        folder = _set_folder(name or "final")
    except ValidatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    target = folder / BASELINE if baseline else folder
    if not target.exists():
        click.echo(f"error: {target} does not exist", err=True)
        sys.exit(2)
    click.echo(str(target))


def _set_folder(name: str) -> Path:
    folder = reference_set(name)
    if folder is None:  # a profile name whose set has another folder name
        folder = reference_set(load_profile(name).reference_data)
    if folder is None:
        raise ValidatorError(f"no reference set for {name} under {reference_root()}")
    return folder
