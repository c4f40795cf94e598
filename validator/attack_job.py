"""The ``attack`` command's work, isolated like ``check``: the model first passes the same
loader and gate checks (load, input, output, runtime) in a child process, then the attack run
itself happens in another child under the profile's ``limit_attack_s`` and memory limit.

A model that fails a gate comes back as its Report (exit 1 at the CLI); bad data or a bad suite
found in the child is raised again here as the same ValidatorError (validator.sandbox forwards
it; exit 2); a breach comes back as one line naming the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from validator.config import Profile
from validator.findings import Finding, Report, Verdict
from validator.pipeline import resolve_profile, validate
from validator.reporting.json_report import finding_from_dict, finding_to_dict
from validator.sandbox import Limits, Sender, run_isolated
from validator.sandbox.progress import ProgressLike, RemoteProgress, forward_progress
from validator.vocab import CheckId, Phase

if TYPE_CHECKING:
    from validator.attacks.suites import Suite

GATES = (CheckId.LOAD, CheckId.INPUT, CheckId.OUTPUT, CheckId.RUNTIME)


@dataclass
class AttackOutcome:
    """What an isolated attack run produced: the gate report, and (when the gates passed) the
    attacked sets as the manifest lists them, the masking findings, or the breach."""

    report: Report
    sets: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    breach: str | None = None
    detection: dict[str, Any] | None = None  # for --for detection: images written per set
    worst_case: dict[str, Any] | None = None  # per image, right under every set that took it
    gradients: str | None = None  # where white-box gradients came from (None: no such set)
    notes: list[str] = field(default_factory=list)  # what was queried and judged (zip route)

    @property
    def gated(self) -> bool:
        """True when the model failed a gate check, so nothing was attacked."""
        return self.report.verdict is Verdict.FAIL


def attack_isolated(
    model: Path,
    data: Path,
    out: Path,
    suite: str,
    profile: str | Path | Profile = "final",
    *,
    threads: int | None = None,
    progress: ProgressLike | None = None,
    detection: bool = False,
    **options: Any,
) -> AttackOutcome:
    """Gate ``model`` like ``check`` does, then attack the clean images of ``data`` into
    ``out`` in a child process; ``options`` go on to attack_dataset. With ``detection`` the
    child builds a Track 2 set instead, ``model`` being the surrogate classifier. A ``.zip``
    is a PyTorch submission: see :func:`validator.submission.attack_route.attack_zip`."""
    if detection and Path(model).suffix.lower() == ".zip":
        from validator.submission.detection_route import detection_zip  # imports this module

        return detection_zip(model, data, out, suite, profile, threads=threads,
                             progress=progress, **options)  # fmt: skip
    if not detection and Path(model).suffix.lower() == ".zip":
        from validator.submission.attack_route import attack_zip  # imports this module

        return attack_zip(model, data, out, suite, profile, threads=threads, progress=progress,
                          **options)  # fmt: skip
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    if not detection and not options.get("overwrite"):
        from validator.attacks.writer import claim_output

        claim_output(out, overwrite=False)  # refuse an earlier run's --out before any work
    report = validate(model, prof, select=[c.value for c in GATES], threads=limits.threads)
    outcome = AttackOutcome(report)
    if outcome.gated:
        return outcome
    work = detection_set if detection else attacked_sets
    body = attack_body(work, model, data, out, suite, prof, limits.threads, options)
    result = run_isolated(body, limits, Phase.ATTACK, collector(outcome, progress))
    if not result.ok:
        outcome.breach = result.reason
    return outcome


def attack_body(
    work: Callable[..., None], model: Path, data: Path, out: Path, suite: str | Path | Suite,
    prof: Profile, threads: int, options: dict[str, Any],
) -> Callable[[Sender], None]:  # fmt: skip
    """The attack child's body: ``work`` (:func:`attacked_sets` or :func:`detection_set`)
    with these arguments, between the phase and ``done`` messages."""

    def body(sender: Sender) -> None:
        sender.send("phase", name=Phase.ATTACK.value)
        work(sender, model, data, out, suite, prof, threads=threads, **options)
        sender.send("done")

    return body


def attacked_sets(sender: Sender, model: Path, data: Path, out: Path, suite: Any, prof: Profile,
                  *, threads: int, module: Path | None = None, **options: Any) -> None:  # fmt: skip
    """Write the attacked sets of ``data`` against the ONNX graph ``model`` under ``out``;
    ``module`` (a PyTorch submission's unpacked folder) gives the white-box attacks its
    module's gradients, from a confined child: this process never imports its code."""
    from validator.attacks import attack_dataset  # loaded only where attacks run
    from validator.scoring.evaluation import module_gradients

    with module_gradients(module, prof, threads) as gradients:
        run = attack_dataset(model, data, out, suite, prof, threads=threads,
                             progress=RemoteProgress(sender), gradients=gradients,
                             **options)  # fmt: skip
    sets = [s.to_dict() for s in run.sets]
    findings = [finding_to_dict(f) for f in run.findings]
    sender.send("attack", sets=sets, findings=findings, worst_case=run.worst_case,
                gradients=run.manifest.get("whitebox_gradients"),
                confinement=_measures(gradients))  # fmt: skip


def detection_set(sender: Sender, model: Path, data: Path, out: Path, suite: Any,
                  prof: Profile, *, threads: int, module: Path | None = None,
                  **options: Any) -> None:  # fmt: skip
    """Build a Track 2 set; ``module`` (a PyTorch surrogate's unpacked folder) gives the
    white-box attacks its module's gradients, from a confined child."""
    from validator.detection.build import build_detection_set
    from validator.scoring.evaluation import module_gradients

    with module_gradients(module, prof, threads) as gradients:
        built = build_detection_set(model, data, out, suite, prof, threads=threads,
                                    gradients=gradients, **options)  # fmt: skip
    sets = [s.to_dict() for s in built.run.sets]
    findings = [finding_to_dict(f) for f in built.run.findings]
    written = {"clean": built.clean, "adversarial": built.adversarial}
    gradients_from = built.run.manifest.get("whitebox_gradients")
    sender.send("attack", sets=sets, findings=findings, detection=written,
                gradients=gradients_from, confinement=_measures(gradients))  # fmt: skip


def _measures(gradients: Any) -> list[str] | None:
    """The gradient child's confinement, as the report lists it (None: no such child ran)."""
    measures = list(getattr(gradients, "measures", None) or [])
    return measures or None


def collector(outcome: AttackOutcome, progress: ProgressLike | None) -> Callable[..., None]:
    """The parent's handler of an attack child's messages: progress, then the results."""

    def handle(message: dict[str, Any]) -> None:
        kind = message["kind"]
        if kind == "progress":
            forward_progress(message, progress)
        elif kind == "attack":
            outcome.sets = list(message.get("sets") or [])
            outcome.findings = [finding_from_dict(f) for f in message.get("findings") or []]
            outcome.detection = message.get("detection")
            outcome.worst_case = message.get("worst_case")
            outcome.gradients = message.get("gradients")
            if message.get("confinement"):  # the module's gradient child, where one ran
                outcome.report.isolation["attack_confinement"] = list(message["confinement"])

    return handle
