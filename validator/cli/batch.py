"""``robust-validate batch SUBMISSIONS --out RESULTS``: screen and score a folder of
submissions into a leaderboard. Registered on the main group by validator/cli/main.py; the work is
in validator.batch."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from validator.errors import ValidatorError


@click.command("batch")
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Results folder.")
@click.option("--profile", default="final", show_default=True,
              help="final, preliminary, or a PATH.toml.")  # fmt: skip
@click.option("--data", type=click.Path(path_type=Path), help="Dataset root (clean/, attacked/).")
@click.option("--attack", metavar="SUITE", help="Also attack each model: standard, quick, PATH.")
@click.option("--checks-only", is_flag=True, help="Run the rule checks only; no scoring.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Submissions evaluated at once on this machine.")  # fmt: skip
@click.option("--ray", "ray", is_flag=False, flag_value="local", default=None,
              metavar="[ADDRESS]", help="Run each submission as a Ray task (here, or on the "
              "cluster at ADDRESS).")  # fmt: skip
@click.option("--json", "json_path", type=click.Choice(["-"]), help="Print leaderboard.json.")
def batch_command(
    submissions: Path, out: Path, profile: str, data: Path | None, attack: str | None,
    checks_only: bool, workers: int, ray: str | None, json_path: str | None,
) -> None:  # fmt: skip
    """Validate (and score) every entry of SUBMISSIONS; write reports and a leaderboard."""
    # Imported here: the command group (and --version) must not load batch, rich or the checks.
    from validator.batch import BatchOptions, run_batch
    from validator.batch.store import dumps
    from validator.console import batch_display, make_console, print_error, render_batch_summary

    address = None if ray in (None, "local") else ray
    options = BatchOptions(submissions, out, profile, data, attack, checks_only, workers,
                           ray is not None, address)  # fmt: skip
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop what is in flight, keep the rest
    try:
        with batch_display(enabled=json_path is None) as display:
            run = run_batch(options, display)
    except ValidatorError as exc:
        print_error(make_console(stderr=True), str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_path == "-":
        click.echo(dumps(run.leaderboard), nl=False)
    else:
        page = str(out / "index.html")
        render_batch_summary(run.leaderboard, make_console(), page, run.evaluated, run.reused)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
