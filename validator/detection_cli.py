"""``robust-validate attack SURROGATE --for detection``: the command-line side of
validator/detection/build.py (prints what was written; no logic lives here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from validator.detection.build import build_detection_set
from validator.errors import ValidatorError


def attack_for_detection(
    surrogate: Path, data: Path, out: Path, suite: str, profile: str, threads: int | None
) -> None:
    """Write a Track 2 data set under ``out`` and list its sets (exit 2 on bad input)."""
    try:
        built = build_detection_set(surrogate, data, out, suite, profile, threads=threads)
    except ValidatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    total = built.clean + sum(built.adversarial.values())
    click.echo(f"{'clean':24s} {built.clean} images")
    for name, count in built.adversarial.items():
        click.echo(f"{'adversarial/' + name:24s} {count} images")
    for outcome in built.run.sets:
        if outcome.skipped:
            click.echo(f"{outcome.name:24s} skipped: {outcome.skipped}")
    share = sum(built.adversarial.values()) / total if total else 0.0
    click.echo(f"wrote {out} ({total} images, {share:.1%} adversarial)")
