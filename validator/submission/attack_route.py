"""``robust-validate attack`` on a PyTorch submission (a zip with ``model.py``).

The zip goes through the main command's route first (:func:`.route.validate_in`): safe
unpacking into a private temporary folder, the module imported and exported in a confined
child, and the gate checks (load, input, output, runtime) on the exported graph. Then a second
confined child, under the profile's ``limit_attack_s`` and memory limit, imports the module again
and runs the suite:

- black-box attacks (Square, patch, laser, corruptions) query the exported ONNX graph with
  onnxruntime: the graph that is scored;
- white-box attacks (PGD, APGD-CE, APGD-DLR) differentiate the submitted module itself
  (:mod:`validator.submission.module_gradients`); their images are judged on the exported graph.

The child reads only the folder: the clean images used are copied into it first, and the sets are
written under it; the parent then copies the regular files (nothing else) to ``--out``.
"""

from __future__ import annotations

import json
import os
import pkgutil
import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from validator.attack_job import GATES, AttackOutcome, collector
from validator.attacks.runner import clean_set, copy_clean
from validator.attacks.suites import Suite, load_suite
from validator.attacks.writer import MANIFEST, claim_output, write_json
from validator.config import Profile
from validator.data.datasets import CLEAN_DIR
from validator.errors import UsageError
from validator.pipeline import resolve_profile
from validator.sandbox import Confinement, Limits, PhaseClock, Sender, run_isolated
from validator.sandbox.progress import ProgressLike
from validator.submission.route import (
    PRELOAD,
    TORCH_HINT,
    private_folder,
    torch_available,
    validate_in,
)
from validator.submission.unpack import remove
from validator.vocab import Phase

DATA_DIR, OUT_DIR = "_attack_data", "_attack_out"  # inside the private folder
MAX_MANIFEST_BYTES = 64 * 2**20
QUERIES = "black-box attacks query the exported ONNX graph (onnxruntime)"
JUDGED = "every attacked image is judged by onnxruntime on the exported graph, as it is scored"


def attack_zip(
    zip_path: Path, data: Path, out: Path, suite: str | Path | Suite,
    profile: str | Path | Profile = "final", *, threads: int | None = None,
    progress: ProgressLike | None = None, max_images: int | None = None,
    overwrite: bool = False,
) -> AttackOutcome:  # fmt: skip
    """Gate the zip, attack its module on the clean images of ``data`` and write the sets
    under ``out`` (see the module docstring). Raises UsageError without the torch extra."""
    if not torch_available():
        raise UsageError(TORCH_HINT)
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    chosen = suite if isinstance(suite, Suite) else load_suite(suite)  # read here, not there
    clean = clean_set(Path(data), prof.num_classes)
    if not overwrite:
        claim_output(out, overwrite=False)  # refuse an earlier run's --out before any work
    folder = private_folder()
    try:
        report = validate_in(Path(zip_path), folder, prof, limits, [c.value for c in GATES])
        outcome = AttackOutcome(report)
        if outcome.gated:
            return outcome
        from validator.submission.module_job import EXPORT_NAME

        if not (folder / EXPORT_NAME).is_file():
            outcome.breach = "the module did not export to ONNX: nothing to query or judge"
            return outcome
        samples = clean.samples[:max_images] if max_images else clean.samples
        copy_clean(clean, samples, folder / DATA_DIR / CLEAN_DIR)
        body = _body(folder, chosen, prof, limits.threads)
        confinement = Confinement(folder, preload=_preload())
        result = run_isolated(
            body, limits, Phase.ANALYSIS, _handler(outcome, progress), confinement
        )
        if not result.ok:
            outcome.breach = outcome.breach or result.reason
        elif outcome.breach is None:
            claim_output(out, overwrite, keep=clean.folder)
            _publish(folder / OUT_DIR, out, skip_clean=_same(out / CLEAN_DIR, clean.folder))
            outcome.breach = _stamp_manifest(folder / OUT_DIR / MANIFEST, out, report.model)
        outcome.notes = [QUERIES, JUDGED]
        return outcome
    finally:
        remove(folder)


def _preload() -> tuple[str, ...]:
    """Everything the child imports, imported before Landlock hides this package's files."""
    import validator.attacks as attacks

    names = [f"validator.attacks.{m.name}" for m in pkgutil.iter_modules(attacks.__path__)]
    return (*PRELOAD, *names, "validator.submission.module_gradients", "PIL.PngImagePlugin")


def _body(folder: Path, suite: Suite, prof: Profile, threads: int) -> Callable[[Sender], None]:
    def body(sender: Sender) -> None:
        from validator.attacks import attack_dataset
        from validator.reporting.json_report import finding_to_dict
        from validator.sandbox.progress import RemoteProgress
        from validator.submission.module_gradients import ModuleGradients
        from validator.submission.module_job import EXPORT_NAME, import_model

        torch = sys.modules["torch"]  # preloaded before confinement
        torch.set_num_threads(threads)
        PhaseClock(sender).enter(Phase.ANALYSIS)  # importing model.py: limit_analysis_s
        model = import_model(sender, folder)
        if model is None:
            return sender.send("done")
        PhaseClock(sender).enter(Phase.ATTACK)
        run = attack_dataset(
            folder / EXPORT_NAME, folder / DATA_DIR, folder / OUT_DIR, suite, prof,
            threads=threads, progress=RemoteProgress(sender),
            gradients=ModuleGradients(model, torch),
        )  # fmt: skip
        sets = [s.to_dict() for s in run.sets]
        findings = [finding_to_dict(f) for f in run.findings]
        gradients = run.manifest.get("whitebox_gradients")
        sender.send(
            "attack", sets=sets, findings=findings, worst_case=run.worst_case, gradients=gradients
        )
        sender.send("done")

    return body


def _handler(outcome: AttackOutcome, progress: ProgressLike | None) -> Callable[..., None]:
    """attack_job's collector, plus a model.py that failed to import this time."""
    handle = collector(outcome, progress)

    def on_message(message: dict[str, Any]) -> None:
        if message["kind"] == "import" and not message.get("ok"):
            outcome.breach = str(message.get("reason") or "importing model.py failed")[:400]
        if message["kind"] == "confined":
            outcome.report.isolation["attack_confinement"] = list(message.get("measures", []))
        handle(message)

    return on_message


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _publish(stage: Path, out: Path, skip_clean: bool) -> None:
    """Copy the regular files under ``stage`` to ``out`` (never a link or a device the child
    may have made), the manifest last (by :func:`_stamp_manifest`)."""
    for root, dirs, files in os.walk(stage, followlinks=False):
        here = Path(root)
        relative = here.relative_to(stage)
        if skip_clean and relative.parts[:1] == (CLEAN_DIR,):
            continue
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        (out / relative).mkdir(parents=True, exist_ok=True)
        for name in files:
            source = here / name
            if relative == Path(".") and name == MANIFEST:
                continue
            if stat.S_ISREG(os.lstat(source).st_mode):
                shutil.copyfile(source, out / relative / name, follow_symlinks=False)


def _stamp_manifest(source: Path, out: Path, model: dict[str, Any]) -> str | None:
    """Write the child's top-level manifest to ``out``, naming the zip (not the exported
    graph) as the model and saying what was queried and judged; the error, if any."""
    try:
        if os.lstat(source).st_size > MAX_MANIFEST_BYTES:
            raise ValueError("too large")
        manifest = json.loads(source.read_bytes())
        manifest["model"] = {
            "file": Path(str(model["path"])).name, "sha256": model.get("sha256"),
            "kind": "pytorch-zip", "queried": QUERIES, "judged": JUDGED,
        }  # fmt: skip
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return f"the attack child left no readable {MANIFEST}: {exc}"
    write_json(out / MANIFEST, manifest)
    return None
