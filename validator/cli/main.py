"""The command line: options -> profile -> pipeline -> reporter -> exit status.

Exit statuses (REPORT.md): 0 pass, 1 fail (or a warning under --strict), 2 usage error or
unreadable data. No Python traceback reaches the user.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any

import click

from validator import __version__
from validator.cli.attack import attack_command
from validator.cli.batch import batch_command
from validator.cli.reference import reference_command
from validator.errors import UsageError, ValidatorError
from validator.files import check_outputs, write_failed
from validator.findings import Report, Verdict
from validator.reporting import report_to_dict, report_to_json
from validator.scoring.options import scoring_options

# The checks, rich (validator.console), the HTML report and the scoring machinery are imported
# by the commands that use them: `--version`, `--help` and `reference` load none of them.

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
GALLERY_PER_SET = 3  # clean vs attacked pairs per attacked set in the HTML report


class _DefaultCommandGroup(click.Group):
    """``robust-validate MODEL`` means ``robust-validate check MODEL``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The group's help, then the options of ``check`` (the default command), so that
        ``robust-validate --help`` shows what ``robust-validate MODEL`` accepts."""
        super().format_help(ctx, formatter)
        check = self.commands.get("check")
        if check is None:
            return
        sub = click.Context(check, info_name="check", parent=ctx)
        options = [p for p in check.get_params(sub) if isinstance(p, click.Option)]
        rows = [r for p in options if p.name != "help" and (r := p.get_help_record(sub))]
        with formatter.section("Options of check (robust-validate MODEL [OPTIONS])"):
            formatter.write_dl(rows)


def _guarded(fn: Callable[..., int]) -> Callable[..., None]:
    """Turn library errors into a one-line message and exit status 2, results into exit codes."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = fn(*args, **kwargs)
            sys.stdout.flush()  # a full disk behind stdout shows here, not at interpreter exit
        except ValidatorError as exc:
            _print_error(str(exc))
            code = EXIT_USAGE
        except OSError as exc:  # stdout itself failed (disk full, closed pipe)
            _silence_stdout()
            _print_error(f"cannot write the output: {exc.strerror or exc}")
            code = EXIT_USAGE
        except KeyboardInterrupt:
            code = 130
        sys.exit(code)

    return wrapper


def _print_error(message: str) -> None:
    from validator.console import make_console, print_error

    print_error(make_console(stderr=True), message)


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="robust-validate")
def cli() -> None:
    """Check an ONNX classifier against the competition rules and estimate its score.

    \b
    robust-validate MODEL [OPTIONS]      check MODEL (.onnx or PyTorch .zip), then score it
    robust-validate attack MODEL ...     write attacked sets made against MODEL
    robust-validate batch DIR --out OUT  check and score every submission; leaderboard
    robust-validate reference [NAME]     print where the bundled reference data is
    """
    # Pillow warns about odd metadata in images it still decodes; printed from the decoding
    # threads, those lines would garble the progress bars (an undecodable image is an error).
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")


@cli.command("check")
@click.argument("model", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--profile",
    default="final",
    show_default=True,
    help="final, preliminary, or a PATH.toml overriding one of them.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    help="Dataset root: clean/ and attacked/<name>/ [default: the profile's reference set].",
)
@click.option("--checks-only", is_flag=True, help="Run the rule checks only; no scoring.")
@click.option("--skip-bad-images", is_flag=True, help="Skip (and list) bad images; don't stop.")
@click.option("--predictions", type=click.Path(path_type=Path), help="Write a per-image CSV.")
@click.option(
    "--attack",
    metavar="SUITE",
    help="Also attack the clean set on the fly: standard, quick or a PATH.toml "
    "(--data may then be a bare clean set).",
)
@click.option("--max-images", type=click.IntRange(min=1), metavar="N",
              help="Score (and attack) only the first N images of each set.")  # fmt: skip
@click.option("--score-anyway", is_flag=True,
              help="Score even when an error-severity check failed.")  # fmt: skip
@click.option("--json", "json_path", metavar="PATH", help="Write the JSON report ('-' = stdout).")
@click.option("--html", "html_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a self-contained HTML report (charts, gallery).")  # fmt: skip
@click.option("--checks", "select", metavar="IDS", help="Comma-separated check ids to run.")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary line.")
@click.option("--threads", type=click.IntRange(min=1), help="onnxruntime intra-op threads.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where onnxruntime runs the model (cuda: onnxruntime-gpu).")  # fmt: skip
@_guarded
def check_command(
    model: Path,
    profile: str,
    data: Path | None,
    checks_only: bool,
    skip_bad_images: bool,
    predictions: Path | None,
    attack: str | None,
    max_images: int | None,
    score_anyway: bool,
    json_path: str | None,
    html_path: Path | None,
    select: str | None,
    strict: bool,
    quiet: bool,
    threads: int | None,
    device: str,
) -> int:
    """Validate MODEL (an .onnx file, or a .zip PyTorch submission): print the checks
    table, then score it."""
    chosen = _check_ids(select)
    check_outputs({"--json": json_path, "--predictions": predictions, "--html": html_path})
    score = scoring_options(
        checks_only, data, skip_bad_images, predictions, attack, max_images, score_anyway,
        GALLERY_PER_SET if html_path else 0,
    )  # fmt: skip
    from validator.console import progress_bars
    from validator.pipeline import validate

    with progress_bars(enabled=not quiet, lines=attack is not None) as progress:
        report = validate(
            model, profile, select=chosen, threads=threads, score=score, progress=progress,
            device=device,
        )  # fmt: skip
    if html_path is not None:
        from validator.reporting.html import render_html

        _write_text(html_path, render_html(report_to_dict(report)))
    return _emit(report, json_path, quiet, strict)


cli.add_command(attack_command)
cli.add_command(reference_command)
cli.add_command(batch_command)


def _check_ids(select: str | None) -> list[str] | None:
    if select is None:
        return None
    chosen = [s.strip() for s in select.split(",") if s.strip()]
    if not chosen:
        raise UsageError(f"--checks {select!r} names no check id (comma-separated ids)")
    return chosen


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real descriptor (tests)
        pass


def _emit(report: Report, json_path: str | None, quiet: bool, strict: bool) -> int:
    if json_path == "-":
        click.echo(report_to_json(report), nl=False)
    else:
        from validator.console import make_console, render_report

        render_report(report, make_console(), quiet=quiet, strict=strict)
        if json_path:
            _write_text(Path(json_path), report_to_json(report))
    if report.verdict is Verdict.FAIL:
        return EXIT_FAIL
    return EXIT_FAIL if strict and report.warnings else EXIT_PASS


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise write_failed(path, exc) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="robust-validate")
