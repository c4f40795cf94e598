"""The manifests an attack run writes: one per attacked set (every image's seed, queries and
outcome) and one for the run (model digest, profile, suite, sets, findings)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from validator import __version__
from validator.attacks.base import AttackResult
from validator.attacks.outcomes import SetOutcome, eot_summary, ratio
from validator.attacks.suites import Entry, Suite
from validator.attacks.writer import png_name
from validator.config import Profile
from validator.data.datasets import Sample
from validator.files import file_sha256
from validator.findings import Finding

TOOL = {"name": "robust-validate", "version": __version__}


def image_records(
    batch: Sequence[Sample], seeds: Sequence[int], result: AttackResult, taken: set[str]
) -> Iterator[dict[str, Any]]:
    """One record per attacked image; ``_levels`` holds its pixels until they are written."""
    for k, sample in enumerate(batch):
        record: dict[str, Any] = {
            "image": png_name(sample.name, taken),
            "source": sample.name,
            "label": sample.label,
            "seed": int(seeds[k]),
            "queries": int(result.queries[k]),
            "success": bool(result.success[k]),
            "_levels": result.images[k],
        }
        for key, values in result.per_image.items():
            record[key] = values[k]
        yield record


def set_manifest(
    entry: Entry, records: list[dict[str, Any]], suite: Suite, profile: Profile, draws: int
) -> dict[str, Any]:
    """The manifest of one attacked set."""
    fooled = sum(1 for r in records if r["success"])
    return {
        "tool": dict(TOOL),
        "set": entry.attack.name,
        "family": entry.attack.family.value,
        "params": dict(entry.attack.params),
        "budget": entry.budget,
        "suite": suite.name,
        "suite_seed": suite.seed,
        "profile": profile_facts(profile),
        "draws_per_query": draws,
        "eot_draws": eot_summary(records),
        "summary": {
            "images": len(records),
            "fooled": fooled,
            "accuracy": ratio(len(records) - fooled, len(records)),
        },
        "images": records,
    }


def top_manifest(
    path: Path,
    profile: Profile,
    suite: Suite,
    outcomes: Sequence[SetOutcome],
    findings: Sequence[Finding],
) -> dict[str, Any]:
    """The manifest of the whole run (``out_root/manifest.json``)."""
    return {
        "tool": dict(TOOL),
        "model": {"file": path.name, "sha256": _digest(path)},
        "profile": profile_facts(profile),
        "suite": suite.to_dict(),
        "sets": [o.to_dict() for o in outcomes],
        "findings": [
            {"id": f.id, "status": f.status.value, "message": f.message, "details": dict(f.details)}
            for f in findings
        ],
    }


def profile_facts(profile: Profile) -> dict[str, Any]:
    """The profile settings that decide what an attacked image is."""
    return {
        "name": profile.name,
        "input_size": profile.input_size,
        "resize": profile.resize.value,
        "channel_order": profile.channel_order.value,
        "num_classes": profile.num_classes,
    }


def _digest(path: Path) -> str | None:
    try:
        return file_sha256(path.resolve())  # the user named it: a link to it is fine
    except OSError:  # a folder or a vanished file: the manifest says so with null
        return None
