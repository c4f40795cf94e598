"""What the manifests of attacked sets read from disk say about the numbers scored on them.

``robust-validate attack`` writes ``ROOT/manifest.json`` (the model's sha256, the suite, every
set, the findings, among them ``masking``) and ``ROOT/attacked/<name>/manifest.json`` per set.
When such a root is scored, the report carries that evidence as if the attack had run on the
fly: masking evidence (or a randomized model) makes the attacked accuracy and the final score
upper bounds, said in the ``masking`` warning and on the score; sets made against a model with
another sha256 are transfer attacks, said in the ``attack-manifest`` warning.

Manifests are untrusted input: each is read size-capped and schema-checked; a malformed one is
one line in the ``attack-manifest`` warning and its evidence is ignored, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validator.data.datasets import Dataset
from validator.errors import DataError
from validator.files import read_limited, resolves_inside
from validator.findings import Finding, Report, Severity, Status
from validator.vocab import CheckId

MANIFEST = "manifest.json"
MAX_RUN_BYTES = 16 << 20  # the run's manifest: sets and findings, a few kB to a few MB
MAX_SET_BYTES = 64 << 20  # a set's manifest: one record per image (~300 bytes each)
SIGN_KINDS = frozenset(
    {"saturated", "temperature", "random", "non-differentiable", "black-box-stronger"}
)  # validator.attacks.masking.SignKind, not imported: scoring must not load the attack library
TOOL = "robust-validate"
BOUND = (
    "attacked accuracy and final score are upper bounds under the attacks run (masking "
    "evidence remains)"
)  # the wording of validator.attacks.masking.UPPER_BOUND, kept equal by a test


class Malformed(ValueError):
    """A manifest that is not what ``robust-validate attack`` writes; the message is one line."""


@dataclass(frozen=True)
class Evidence:
    """What the manifests of one dataset root say."""

    sets: tuple[str, ...]  # attacked sets listed in the run's manifest or with one of their own
    run_manifest: bool  # ROOT/manifest.json was read
    model_sha256: str | None  # the model the sets were made against (None: not recorded)
    signs: tuple[str, ...]  # masking evidence kinds recorded (sorted)
    randomized: bool
    problems: tuple[str, ...]  # one line per malformed manifest
    eot_draws: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # white-box sets

    @property
    def upper_bound(self) -> bool:
        """True when the recorded evidence makes the attacked numbers upper bounds."""
        return bool(self.signs) or self.randomized


def add_evidence(report: Report, dataset: Dataset, model_sha256: str, error: bool) -> None:
    """Add the manifests' findings to ``report`` (an on-the-fly attack's own ``masking``
    finding takes precedence) and their facts to ``report.score["attack_manifest"]``."""
    evidence = read_evidence(dataset)
    if evidence is None:
        return
    for finding in evidence_findings(evidence, model_sha256, error):
        if finding.id != CheckId.MASKING.value or report.get(finding.id) is None:
            report.add(finding)
    provenance = report.get(CheckId.ATTACK_MANIFEST.value)
    if report.score is not None and provenance is not None:
        report.score["attack_manifest"] = dict(provenance.details)


def read_evidence(dataset: Dataset) -> Evidence | None:
    """The evidence of ``dataset``'s manifests; None when neither the root nor any attacked
    set has one (sets made by other tools)."""
    problems: list[str] = []
    root = dataset.root
    run = _read(root / MANIFEST, root, MAX_RUN_BYTES, _run_facts, problems)
    per_set = {}
    for image_set in dataset.attacked:
        path = image_set.folder / MANIFEST
        facts = _read(path, root, MAX_SET_BYTES, _set_facts, problems)
        if facts is not None:
            per_set[image_set.name] = facts
    if run is None and not per_set and not problems:
        return None
    signs = set(run["signs"]) if run else set()
    randomized = bool(run and run["randomized"]) or any(f["random"] for f in per_set.values())
    if randomized:
        signs.add("random")
    listed = set(run["sets"]) & {s.name for s in dataset.attacked} if run else set()
    return Evidence(
        tuple(sorted(listed | set(per_set))),
        run is not None,
        run["sha256"] if run else None,
        tuple(sorted(signs)),
        randomized,
        tuple(problems),
        {name: f["eot_draws"] for name, f in per_set.items() if f["eot_draws"] is not None},
    )


def _read(
    path: Path, root: Path, limit: int, parse: Any, problems: list[str]
) -> dict[str, Any] | None:
    if not path.exists() and not path.is_symlink():
        return None
    if not resolves_inside(path, root):
        problems.append(f"attack manifest {path} ignored: it resolves outside {root}")
        return None
    try:
        data = json.loads(read_limited(path, "attack manifest", limit, DataError))
        facts: dict[str, Any] = parse(data)
        return facts
    except DataError as exc:
        problems.append(f"{exc}; ignored")
    except (ValueError, RecursionError) as exc:  # JSON errors and Malformed are ValueErrors
        reason = exc if isinstance(exc, Malformed) else "not valid JSON"
        problems.append(f"attack manifest {path} ignored: {reason}")
    return None


def _run_facts(data: Any) -> dict[str, Any]:
    top = _mapping(data, "the manifest")
    _tool(top)
    model = _mapping(top.get("model"), "model")
    sha = model.get("sha256")
    if sha is not None and not (
        isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)
    ):
        raise Malformed("model.sha256 is not a sha256 hex digest")
    findings = _list(top.get("findings", []), "findings")
    signs: set[str] = set()
    for item in findings:
        finding = _mapping(item, "a finding")
        if finding.get("id") != CheckId.MASKING.value or finding.get("status") not in (
            Status.WARN.value,
            Status.FAIL.value,
        ):
            continue
        details = _mapping(finding.get("details", {}), "the masking finding's details")
        for sign in _list(details.get("signs", []), "masking signs"):
            kind = _mapping(sign, "a masking sign").get("kind")
            if kind not in SIGN_KINDS:
                raise Malformed(f"unknown masking sign {str(kind)[:40]!r}")
            signs.add(str(kind))
    sets = [_mapping(s, "a set") for s in _list(top.get("sets", []), "sets")]
    random = any(s.get("randomized") is not None for s in sets)
    names = [str(s["name"]) for s in sets if isinstance(s.get("name"), str)]
    return {"sha256": sha, "signs": sorted(signs), "randomized": random, "sets": names}


def _set_facts(data: Any) -> dict[str, Any]:
    top = _mapping(data, "the manifest")
    _tool(top)
    draws = top.get("draws_per_query", 1)
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise Malformed("draws_per_query is not a positive whole number")
    eot = top.get("eot_draws")
    if eot is not None:
        eot = {k: _number(_mapping(eot, "eot_draws").get(k), k) for k in ("mean", "max")}
    return {"random": draws > 1, "eot_draws": eot}


def _number(value: Any, what: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value <= 1e6:
        raise Malformed(f"eot_draws.{what} is not a number of draws")
    return float(value)


def _tool(top: Mapping[str, Any]) -> None:
    if _mapping(top.get("tool"), "tool").get("name") != TOOL:
        raise Malformed(f"not written by {TOOL} attack")


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a JSON list")
    return value


def evidence_findings(evidence: Evidence, model_sha256: str | None, error: bool) -> list[Finding]:
    """The ``attack-manifest`` finding and, when the manifests record masking evidence, the
    ``masking`` warning (a failure with ``error``: the profile's ``masking = "error"``)."""
    findings = [_provenance(evidence, model_sha256)]
    if evidence.upper_bound:
        kinds = ", ".join(evidence.signs)
        note = f"{BOUND}; recorded in the attack manifest: {kinds}"
        status, severity = (
            (Status.FAIL, Severity.ERROR) if error else (Status.WARN, Severity.WARNING)
        )
        random = (
            "; the model is randomized and these sets are scored with one run per image (attack "
            "on the fly with --attack to score by the expectation over runs)"
            if evidence.randomized
            else ""
        )
        findings.append(
            Finding(
                CheckId.MASKING.value,
                status,
                severity,
                f"{note}{random}",
                len(evidence.signs),
                None,
                {
                    "upper_bound": True,
                    "bound_note": note,
                    "source": "attack manifest",
                    "signs": [{"kind": k} for k in evidence.signs],
                },
            )
        )
    return findings


def _provenance(evidence: Evidence, model_sha256: str | None) -> Finding:
    recorded = evidence.model_sha256
    same = None if recorded is None or model_sha256 is None else recorded == model_sha256
    details = {
        "manifest_sha256": recorded,
        "same_model": same,
        "sets": list(evidence.sets),
        "problems": list(evidence.problems),
        "eot_draws": {name: dict(v) for name, v in evidence.eot_draws.items()},
    }
    problems: list[str] = []
    if same is False:
        problems.append(
            f"the attacked sets were made against another model (manifest sha256 "
            f"{str(recorded)[:12]}..., this model {str(model_sha256)[:12]}...): they are transfer "
            "attacks, weaker than attacks on this model"
        )
    if evidence.problems:
        more = f" (and {len(evidence.problems) - 1} more)" if len(evidence.problems) > 1 else ""
        problems.append(f"{evidence.problems[0]}{more}")
    check = CheckId.ATTACK_MANIFEST.value
    if problems:
        return Finding(
            check, Status.WARN, Severity.WARNING, "; ".join(problems), None, None, details
        )
    what = (
        "the attacked sets were made against this model (sha256 as in the attack manifest)"
        if same
        else "the attack manifest does not record the model's sha256: the attacked sets may "
        "have been made against another model"
    )
    status = Status.PASS if same else Status.WARN
    return Finding(check, status, Severity.WARNING, what, None, None, details)
