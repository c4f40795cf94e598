"""The PyTorch route: a zip with ``model.py`` validated and scored like an ONNX file.

``validate_zip`` unpacks the zip safely into a private temporary folder, imports and measures the
module in a confined child (validator.sandbox.Confinement), decides the platform's own checks in
the parent from the figures the child sent, then runs every ONNX check and the score on the
graph the child exported, through :func:`validator.pipeline.validate`. The folder is removed at
the end, whatever happened.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from validator.config import Profile
from validator.errors import UsageError
from validator.files import file_sha256
from validator.findings import Report
from validator.pipeline import resolve_profile, validate
from validator.sandbox import Confinement, Limits, Sender, run_isolated
from validator.scoring.engine import Progress
from validator.scoring.evaluation import ScoreOptions
from validator.submission import decide
from validator.submission.unpack import UnpackError, remove, unpack
from validator.vocab import Breach, Phase

TORCH_HINT = (
    "a .zip is a PyTorch submission and needs the torch extra: pip install 'robust-validate[torch]'"
)
WHITEBOX_NOTE = (
    "white-box attacks run on the fly (--attack) differentiate the submitted PyTorch module, "
    "held by a confined child apart from the scoring process; every attacked image is judged "
    "by onnxruntime on the exported graph, as it is scored"
)
PRELOAD = ("torch", "torch.onnx", "onnx", "validator.submission.module_job")


def is_zip_submission(path: str | Path) -> bool:
    """True when ``path`` names a PyTorch submission (a .zip), by its suffix."""
    return Path(path).suffix.lower() == ".zip"


def torch_available() -> bool:
    """True when the torch extra is installed (torch is not imported to find out)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def validate_zip(
    zip_path: str | Path,
    profile: Profile | str | Path = "final",
    *,
    select: Iterable[str] | None = None,
    threads: int | None = None,
    score: bool | ScoreOptions = False,
    progress: Progress | None = None,
) -> Report:
    """Validate (and with ``score`` score) the PyTorch submission ``zip_path``; the same
    arguments and Report as :func:`validator.validate`, plus the platform's module checks.
    Raises UsageError when the torch extra is missing."""
    if not torch_available():
        raise UsageError(TORCH_HINT)
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    folder = private_folder()
    try:
        return validate_in(Path(zip_path), folder, prof, limits, select, score, progress)
    finally:
        remove(folder)


def private_folder() -> Path:
    """A new private temporary folder for one submission (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="robust-validate-zip-"))


@contextmanager
def exported_graph(folder: Path) -> Iterator[Path | None]:
    """A copy of the graph the module exported into ``folder``, in a folder of its own (the
    module's confined child may write in ``folder`` while the graph is queried); None when
    there is none. Removed afterwards."""
    from validator.submission.module_job import EXPORT_NAME

    source = folder / EXPORT_NAME
    if not source.is_file() or source.is_symlink():
        yield None
        return
    apart = private_folder()
    try:
        shutil.copyfile(source, apart / EXPORT_NAME, follow_symlinks=False)
        yield apart / EXPORT_NAME
    finally:
        remove(apart)


def validate_in(
    zip_path: Path, folder: Path, prof: Profile, limits: Limits,
    select: Iterable[str] | None = None, score: bool | ScoreOptions = False,
    progress: Progress | None = None,
) -> Report:  # fmt: skip
    """:func:`validate_zip`'s work in ``folder``, which is kept: the unpacked submission and
    the exported graph (``EXPORT_NAME``) stay there for the caller (the ``attack`` command)."""
    chosen = None if select is None else set(select)
    report = _new_report(zip_path, prof, limits)
    module = _unpack_and_measure(zip_path, folder, prof, limits, report)
    if module is None:
        return report
    decide.module_findings(report, module, prof, chosen)
    onnx_select = None if chosen is None else chosen - decide.MODULE_CHECKS
    _onnx_route(report, module, folder, prof, limits, onnx_select, score, progress)
    return report


def _new_report(path: Path, prof: Profile, limits: Limits) -> Report:
    model: dict[str, Any] = {"path": str(path), "kind": "pytorch-zip", "sha256": None}
    try:
        model["file_bytes"] = path.stat().st_size
        model["sha256"] = file_sha256(path.resolve())  # a link the user named is followed
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    report = Report(model=model, profile=prof.to_dict())
    report.isolation = {"threads": limits.threads, "breaches": []}
    return report


def _unpack_and_measure(
    path: Path, folder: Path, prof: Profile, limits: Limits, report: Report
) -> dict[str, Any] | None:
    """The child's figures, or None after recording a failed ``load``."""
    try:
        unpack(path, folder)
    except UnpackError as exc:
        decide.fail_load(report, prof, f"the zip was refused: {exc}")
        return None
    messages: dict[str, Any] = {}
    outcome = run_isolated(
        _body(folder, prof.input_size, limits.threads), limits, Phase.ANALYSIS,
        lambda m: messages.__setitem__(m["kind"], m), Confinement(folder, preload=PRELOAD),
    )  # fmt: skip
    report.isolation["confinement"] = list(messages.get("confined", {}).get("measures", []))
    if not outcome.ok:
        reason = _describe(outcome.phase, outcome.breach, outcome.reason, limits)
        report.isolation["breaches"].append(
            {"phase": outcome.phase.value, "breach": outcome.breach, "reason": reason}
        )
        messages.setdefault("breach", {"reason": reason})
    imported = messages.get("import", {})
    if not imported.get("ok"):
        why = imported.get("reason") or messages["breach"]["reason"]
        decide.fail_load(report, prof, str(why)[:400])
        return None
    return messages


def _body(folder: Path, size: int, threads: int) -> Any:
    def body(sender: Sender) -> None:
        from validator.submission.module_job import run_module_job

        run_module_job(sender, folder, size, threads)

    return body


def _describe(phase: Phase, breach: Breach | None, reason: str, limits: Limits) -> str:
    """The breach in the words of this route (importing, running the module)."""
    title = "importing model.py" if phase is Phase.ANALYSIS else "running the module"
    field = f"limit_{phase.value}_s"
    if breach is Breach.TIMEOUT:
        return f"{title} stopped after {limits.seconds[phase]:g} s (profile {field})"
    if breach is Breach.MEMORY:
        gb = limits.memory_bytes / 1e9
        return f"{title} exceeded the {gb:.3g} GB memory limit (profile limit_memory_bytes)"
    detail = reason.split(": ", 1)[1] if ": " in reason else reason
    return f"{title} ended the process ({detail})"


def _onnx_route(
    report: Report, module: dict[str, Any], folder: Path, prof: Profile, limits: Limits,
    select: set[str] | None, score: bool | ScoreOptions, progress: Progress | None,
) -> None:  # fmt: skip
    """Every ONNX check and the score, on the exported graph; merged into ``report``."""
    from validator.submission.module_job import EXPORT_NAME

    exported = module.get("export", {})
    if not exported.get("ok"):
        reason = decide.export_failed(report, prof, module)
        report.notes.append(f"ONNX checks and score skipped: {reason}")
        return
    options = ScoreOptions() if score is True else score
    if options and options.attack is not None:  # white-box gradients from the module itself
        options = dataclasses.replace(options, module=folder)
    with exported_graph(folder) as copy:  # the module's child may write in folder meanwhile
        if copy is None:  # reported "ok", yet no regular file is there: the module's doing
            gone = {"export": {"failures": [f"{EXPORT_NAME} is missing or not a regular file"]}}
            reason = decide.export_failed(report, prof, gone)
            report.notes.append(f"ONNX checks and score skipped: {reason}")
            return
        graph = validate(copy, prof, select=select, threads=limits.threads, score=options,
                         progress=progress)  # fmt: skip
    decide.merge_onnx(report, graph, exported, prof)
    confined = report.measurements.pop("whitebox_confinement", None)
    if confined:  # the gradient child's measures, beside the import child's
        report.isolation["attack_confinement"] = confined
    if options and options.attack is not None:
        report.notes.append(WHITEBOX_NOTE)
