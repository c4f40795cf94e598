"""``robust-validate attack MODEL --data CLEAN --out ROOT``: write attacked sets made against
MODEL itself. Registered on the main group by validator/cli.py; no logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from validator.attack_job import attack_isolated
from validator.console import make_console, render_report
from validator.errors import ValidatorError
from validator.files import check_output_folder


@click.command("attack")
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="Clean set, or a dataset root with clean/.")  # fmt: skip
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Where to write clean/, attacked/<set>/ and manifest.json.")  # fmt: skip
@click.option("--suite", default="standard", show_default=True,
              help="standard, quick, or a PATH.toml listing attacks and budgets.")  # fmt: skip
@click.option("--profile", default="final", show_default=True,
              help="final, preliminary, or a PATH.toml.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), help="onnxruntime intra-op threads.")
def attack_command(
    model: Path, data: Path, out: Path, suite: str, profile: str, threads: int | None
) -> None:
    """Attack MODEL on the clean images of --data and write the attacked sets under --out."""
    try:
        check_output_folder(out, "--out")
        run = attack_isolated(model, data, out, suite, profile, threads=threads)
    except ValidatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if run.gated:
        render_report(run.report, make_console())
        sys.exit(1)
    for s in run.sets:
        figure = (
            f"skipped: {s['skipped']}" if s["skipped"]
            else "no images" if s["accuracy"] is None
            else f"accuracy {s['accuracy']:.3f} ({s['images']})"
        )  # fmt: skip
        click.echo(f"{s['name']:24s} {figure}")
    for finding in run.findings:
        click.echo(f"{finding.id}: {finding.status.value}: {finding.message}")
    if run.breach:
        click.echo(f"error: {run.breach}", err=True)
        sys.exit(1)
    click.echo(f"wrote {out}")
