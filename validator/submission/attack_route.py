"""``robust-validate attack`` on a PyTorch submission (a zip with ``model.py``).

The zip goes through the main command's route first (:func:`.route.validate_in`): safe
unpacking into a private temporary folder, the module imported and exported in a confined
child, and the gate checks (load, input, output, runtime) on the exported graph. Then the suite
runs as for an ONNX file (:mod:`validator.attack_job`): in a child under the profile's
``limit_attack_s`` and memory limit that never imports ``model.py``:

- black-box attacks (Square, patch, laser, corruptions) query the exported ONNX graph with
  onnxruntime: the graph that is scored;
- white-box attacks (PGD, APGD-CE, APGD-DLR) differentiate the submitted module itself, held
  by a further confined child that only answers forward and backward requests
  (:mod:`.remote_module`); their images are judged on the exported graph.

So code in ``model.py`` can shape the gradients it is asked for, never the attack code, a
verdict, an image or the manifest. The graph is copied out of the submission's folder before the
attack (the module's child may write there), the clean images are read where they are, and the
sets are written straight to ``--out`` by the attack child; the parent then re-stamps the top
manifest with the zip's name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from validator.attack_job import GATES, AttackOutcome, attack_body, attacked_sets, collector
from validator.attacks.runner import clean_set
from validator.attacks.suites import Suite, load_suite
from validator.attacks.writer import MANIFEST, claim_output, write_json
from validator.config import Profile
from validator.errors import UsageError
from validator.pipeline import resolve_profile
from validator.sandbox import Limits, run_isolated
from validator.sandbox.progress import ProgressLike
from validator.submission.route import (
    TORCH_HINT,
    exported_graph,
    private_folder,
    torch_available,
    validate_in,
)
from validator.submission.unpack import remove
from validator.vocab import Phase

MAX_MANIFEST_BYTES = 64 * 2**20
QUERIES = "black-box attacks query the exported ONNX graph (onnxruntime)"
JUDGED = "every attacked image is judged by onnxruntime on the exported graph, as it is scored"
APART = "the submitted module runs only in confined children, never in the attacking process"
NO_EXPORT = "the module did not export to ONNX: nothing to query or judge"


def attack_zip(
    zip_path: Path, data: Path, out: Path, suite: str | Path | Suite,
    profile: str | Path | Profile = "final", *, threads: int | None = None,
    progress: ProgressLike | None = None, max_images: int | None = None,
    overwrite: bool = False,
) -> AttackOutcome:  # fmt: skip
    """Gate the zip, attack it on the clean images of ``data`` and write the sets under
    ``out`` (see the module docstring). Raises UsageError without the torch extra."""
    if not torch_available():
        raise UsageError(TORCH_HINT)
    prof = resolve_profile(profile)
    limits = Limits.from_profile(prof, threads)
    chosen = suite if isinstance(suite, Suite) else load_suite(suite)  # a bad suite: exit 2 now
    clean_set(Path(data), prof.num_classes)  # bad data too, before the zip is unpacked
    if not overwrite:
        claim_output(out, overwrite=False)  # refuse an earlier run's --out before any work
    options = {"max_images": max_images, "overwrite": overwrite}
    outcome = gated_attack(Path(zip_path), prof, limits, attacked_sets, data, out, chosen, options,
                           progress)  # fmt: skip
    if outcome.gated or outcome.breach == NO_EXPORT:
        return outcome
    if outcome.breach is None:
        outcome.breach = stamp_manifest(out / MANIFEST, outcome.report.model)
    outcome.notes = [QUERIES, JUDGED, APART]
    return outcome


def gated_attack(
    zip_path: Path, prof: Profile, limits: Limits, job: Callable[..., None], data: Path,
    out: Path, suite: Any, options: dict[str, Any], progress: ProgressLike | None,
) -> AttackOutcome:  # fmt: skip
    """Gate the zip (the main command's route, in a private folder), then run ``job``
    (:func:`attacked_sets` or :func:`detection_set`) in a trusted child on a copy of the
    exported graph, white-box gradients from the module in its own confined child."""
    folder = private_folder()
    try:
        report = validate_in(zip_path, folder, prof, limits, [c.value for c in GATES])
        outcome = AttackOutcome(report)
        if outcome.gated:
            return outcome
        with exported_graph(folder) as graph:
            if graph is None:
                outcome.breach = NO_EXPORT
                return outcome
            work = {**options, "module": folder}
            body = attack_body(job, graph, data, out, suite, prof, limits.threads, work)
            result = run_isolated(body, limits, Phase.ATTACK, collector(outcome, progress))
        if not result.ok:
            outcome.breach = result.reason
        return outcome
    finally:
        remove(folder)


def stamp_manifest(path: Path, model: dict[str, Any]) -> str | None:
    """Rewrite the top-level manifest at ``path`` naming the zip (not the exported graph) as
    the model and saying what was queried and judged; the error, if any, as one line."""
    try:
        if os.lstat(path).st_size > MAX_MANIFEST_BYTES:
            raise ValueError("too large")
        manifest = json.loads(path.read_bytes())
        manifest["model"] = {
            "file": Path(str(model["path"])).name, "sha256": model.get("sha256"),
            "kind": "pytorch-zip", "queried": QUERIES, "judged": JUDGED,
        }  # fmt: skip
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return f"the attack left no readable {MANIFEST}: {exc}"
    write_json(path, manifest)
    return None
