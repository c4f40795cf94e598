"""``robust-validate attack MODEL --data CLEAN --out ROOT``: write attacked sets made against
MODEL itself. Registered on the main group by validator/cli/main.py; no logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from validator.errors import ValidatorError
from validator.files import check_output_folder

if TYPE_CHECKING:
    from validator.attack_job import AttackOutcome


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
@click.option("--max-images", type=click.IntRange(min=1), metavar="N",
              help="Attack only the first N clean images.")  # fmt: skip
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier run under --out (refused otherwise).")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--threads", type=click.IntRange(min=1), help="onnxruntime intra-op threads.")
@click.option("--for", "purpose", type=click.Choice(["classification", "detection"]),
              default="classification", show_default=True,
              help="detection: a Track 2 set (clean/, adversarial/<attack>/) with MODEL as the "
              "surrogate.")  # fmt: skip
def attack_command(
    model: Path, data: Path, out: Path, suite: str, profile: str, max_images: int | None,
    overwrite: bool, quiet: bool, threads: int | None, purpose: str,
) -> None:  # fmt: skip
    """Attack MODEL on the clean images of --data and write the attacked sets under --out."""
    if purpose == "detection":
        from validator.cli.detection import attack_for_detection

        return attack_for_detection(model, data, out, suite, profile, threads)
    # Imported here: the command group (and --version) must not load the attack machinery.
    from validator.attack_job import attack_isolated
    from validator.console import make_console, print_error, progress_bars, render_report

    try:
        check_output_folder(out, "--out")
        with progress_bars(enabled=not quiet, lines=True) as progress:
            run = attack_isolated(
                model, data, out, suite, profile, threads=threads, progress=progress,
                max_images=max_images, overwrite=overwrite,
            )  # fmt: skip
    except ValidatorError as exc:
        print_error(make_console(stderr=True), str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    if run.gated:
        render_report(run.report, make_console())
        sys.exit(1)
    sys.exit(_summary(run, out))


def _summary(run: AttackOutcome, out: Path) -> int:
    for s in run.sets:
        figure = (
            f"skipped: {s['skipped']}" if s["skipped"]
            else "no images" if s["accuracy"] is None
            else f"accuracy {s['accuracy']:.3f} ({s['images']}){_set_detail(s)}"
        )  # fmt: skip
        click.echo(f"{s['name']:24s} {figure}")
    worst = run.worst_case
    if worst and worst.get("accuracy") is not None:
        click.echo(
            f"{'worst case per image':24s} accuracy {worst['accuracy']:.3f} "
            f"({worst['images']}; right under every set that took the image)"
        )
    if run.gradients:
        click.echo(f"white-box gradients: {run.gradients}")
    for note in run.notes:
        click.echo(note)
    for finding in run.findings:
        click.echo(f"{finding.id}: {finding.status.value}: {finding.message}")
    if run.breach:
        click.echo(f"error: {run.breach}", err=True)
        return 1
    skipped = sum(1 for s in run.sets if s["skipped"])
    made = len(run.sets) - skipped
    note = f" ({skipped} sets skipped, listed with the reason in manifest.json)" if skipped else ""
    click.echo(f"wrote {made} attacked sets to {out}{note}")
    return 0


def _set_detail(entry: dict[str, Any]) -> str:
    """The method used per image and, for a randomized model, expectation and worst case."""
    methods = entry.get("methods") or {}
    used = ", ".join(f"{name} on {n}" for name, n in sorted(methods.items()) if name != "clean")
    random = entry.get("randomized")
    text = f"; method: {used}" if used and set(methods) - {entry["name"], "clean"} else ""
    if random:
        text += (
            f"; randomized: expected accuracy {random['expected_accuracy']:.3f} over "
            f"{random['draws_per_image']} runs per image, worst case "
            f"{random['worst_case_accuracy']:.3f}"
        )
    eot = entry.get("eot_draws")
    if random and eot:
        text += f"; EOT: {eot['mean']:g} draws per gradient on average (max {eot['max']:g})"
    return text
