"""``robust-validate attack submission.zip --for detection``: a Track 2 data set made against a
PyTorch surrogate (a zip with ``model.py``).

As for ``attack`` on a zip (:mod:`.attack_route`), the zip is gated first by the main command's
route (safe unpacking, the module imported and exported in a confined child, the gate checks on
the exported graph). The set is then built as for an ONNX surrogate, in a child under the
profile's ``limit_attack_s``, against the exported graph (labels, black-box queries, verdicts),
while white-box attacks differentiate the submitted module, held by a further confined child
(:mod:`.remote_module`): the module never runs in a process that writes the set. The graph is
queried from a copy outside the submission's folder, where that child may write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from validator.attack_job import AttackOutcome, detection_set
from validator.config import Profile
from validator.errors import UsageError
from validator.pipeline import resolve_profile
from validator.sandbox import Limits
from validator.sandbox.progress import ProgressLike
from validator.submission.attack_route import APART, NO_EXPORT, QUERIES, gated_attack
from validator.submission.route import TORCH_HINT, torch_available

LABELLED = (
    "the surrogate's labels and every attack's verdict come from onnxruntime on the exported graph"
)


def detection_zip(
    model: Path, data: Path, out: Path, suite: str, profile: str | Path | Profile = "final",
    *, threads: int | None = None, progress: ProgressLike | None = None, **options: Any,
) -> AttackOutcome:  # fmt: skip
    """Gate the zip, then build the Track 2 set of ``data`` under ``out`` against it (see the
    module docstring). Raises UsageError without the torch extra."""
    if not torch_available():
        raise UsageError(TORCH_HINT)
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    outcome = gated_attack(Path(model), prof, limits, detection_set, data, out, suite, options,
                           progress)  # fmt: skip
    if not outcome.gated and outcome.breach != NO_EXPORT:
        outcome.notes = [QUERIES, LABELLED, APART]
    return outcome
