"""``robust-validate attack SURROGATE --for detection``: the command-line side of
validator/detection/build.py (prints what was written; no logic lives here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from validator.attack_job import attack_isolated
from validator.console import make_console, render_report
from validator.errors import ValidatorError


def attack_for_detection(
    surrogate: Path, data: Path, out: Path, suite: str, profile: str, threads: int | None
) -> None:
    """Write a Track 2 data set under ``out`` and list its sets (exit 2 on bad input, 1 when
    the surrogate fails a gate check or a limit)."""
    try:
        run = attack_isolated(surrogate, data, out, suite, profile, threads=threads,
                              detection=True)  # fmt: skip
    except ValidatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if run.gated:
        render_report(run.report, make_console())
        sys.exit(1)
    if run.breach or run.detection is None:
        click.echo(f"error: {run.breach or 'the surrogate run ended without a result'}", err=True)
        sys.exit(1)
    clean, adversarial = int(run.detection["clean"]), dict(run.detection["adversarial"])
    total = clean + sum(adversarial.values())
    click.echo(f"{'clean':24s} {clean} images")
    for name, count in adversarial.items():
        click.echo(f"{'adversarial/' + name:24s} {count} images")
    for s in run.sets:
        if s["skipped"]:
            click.echo(f"{s['name']:24s} skipped: {s['skipped']}")
    if run.gradients:
        click.echo(f"white-box gradients: {run.gradients}")
    for note in run.notes:
        click.echo(note)
    share = sum(adversarial.values()) / total if total else 0.0
    click.echo(f"wrote {out} ({total} images, {share:.1%} adversarial)")
