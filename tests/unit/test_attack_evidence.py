"""Attack manifests of sets read from disk: what they record (masking evidence, a randomized
model, the model's sha256) reaches the report; a malformed manifest is one line, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import validator.scoring.attack_evidence as evidence_module
from validator.attacks.masking import UPPER_BOUND
from validator.data.datasets import Dataset, ImageSet, LabelSource, SetKind
from validator.findings import Report
from validator.scoring.attack_evidence import BOUND, add_evidence, read_evidence

SHA = "ab" * 32
OTHER = "cd" * 32
TOOL = {"name": "robust-validate", "version": "0.1.0"}


def _run(signs: list[str], sha: str | None = SHA, randomized: bool = False) -> dict[str, Any]:
    masking = {"id": "masking", "status": "warn" if signs else "pass", "message": "m",
               "details": {"signs": [{"kind": k, "message": "x"} for k in signs]}}  # fmt: skip
    sets = [{"name": "square-linf", "randomized": {"draws_per_image": 32} if randomized else None}]
    return {"tool": TOOL, "model": {"file": "m.onnx", "sha256": sha}, "sets": sets,
            "findings": [masking]}  # fmt: skip


def _set(draws: int = 1) -> dict[str, Any]:
    return {"tool": TOOL, "set": "square-linf", "draws_per_query": draws, "images": []}


def _dataset(root: Path, run: Any = None, per_set: Any = None) -> Dataset:
    folder = root / "attacked" / "square-linf"
    folder.mkdir(parents=True)
    for path, content in ((root / "manifest.json", run), (folder / "manifest.json", per_set)):
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content)
            path.write_text(text, encoding="utf-8")
    image_set = ImageSet("square-linf", SetKind.ATTACKED, folder, (), LabelSource.LABEL_FILE)
    return Dataset(root, (image_set,))


def test_the_wording_is_the_attacks_own() -> None:
    assert BOUND == UPPER_BOUND


@pytest.mark.parametrize(
    ("run", "per_set", "bound", "signs", "provenance"),
    [
        (_run(["random", "non-differentiable"]), _set(8), True, ("non-differentiable", "random"),
         "pass"),
        (_run([]), _set(1), False, (), "pass"),
        (_run([], randomized=True), None, True, ("random",), "pass"),
        (_run(["saturated"], sha=OTHER), _set(1), True, ("saturated",), "warn"),
        (None, _set(8), True, ("random",), "warn"),  # no run manifest: model unknown
        (_run([], sha=None), _set(1), False, (), "warn"),
    ],
)  # fmt: skip
def test_manifest_evidence_reaches_the_report(
    tmp_path: Path, run: Any, per_set: Any, bound: bool, signs: tuple[str, ...], provenance: str
) -> None:
    dataset = _dataset(tmp_path, run, per_set)
    evidence = read_evidence(dataset)
    assert evidence is not None and evidence.upper_bound is bound and evidence.signs == signs
    report = Report({}, {}, score={"final": 0.5})
    add_evidence(report, dataset, SHA, error=False)
    found = report.get("attack-manifest")
    assert found is not None and found.status.value == provenance
    assert report.score is not None and report.score["attack_manifest"]["sets"] == ["square-linf"]
    masking = report.get("masking")
    assert (masking is not None) is bound
    if masking is not None:
        assert masking.message.startswith(UPPER_BOUND) and masking.details["upper_bound"]
    if run is not None and run["model"]["sha256"] == OTHER:
        assert "transfer attacks" in found.message


def test_masking_error_policy_fails_and_an_existing_masking_finding_wins(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path, _run(["random"]), _set(8))
    report = Report({}, {}, score={})
    add_evidence(report, dataset, SHA, error=True)
    masking = report.get("masking")
    assert masking is not None and masking.blocks
    report = Report({}, {}, score={})
    from validator.attacks.masking import masking_finding

    report.add(masking_finding([]))
    add_evidence(report, dataset, SHA, error=False)
    assert report.get("masking") == masking_finding([])


def test_no_manifest_is_no_evidence(tmp_path: Path) -> None:
    assert read_evidence(_dataset(tmp_path)) is None


@pytest.mark.parametrize(
    ("run", "per_set", "reason"),
    [
        ("{not json", _set(), "not valid JSON"),
        ([1, 2], _set(), "the manifest is not a JSON object"),
        ({**_run([]), "findings": {"id": "masking"}}, _set(), "findings is not a JSON list"),
        (_run(["made-up"]), _set(), "unknown masking sign"),
        ({**_run([]), "tool": {"name": "other"}}, _set(), "not written by robust-validate"),
        (_run([], sha="0" * 63 + "Z"), _set(), "not a sha256 hex digest"),
        ({**_run([]), "model": None}, _set(), "model is not a JSON object"),
        (_run([]), {**_set(), "draws_per_query": "8"}, "not a positive whole number"),
        (_run([]), {**_set(), "draws_per_query": True}, "not a positive whole number"),
        (_run([]), {**_set(), "eot_draws": {"mean": "4"}}, "eot_draws.mean is not a number"),
        (_run([]), {**_set(), "eot_draws": [4]}, "eot_draws is not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, _set(), "not valid JSON"),  # deep nesting
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_one_line_and_ignored(
    tmp_path: Path, run: Any, per_set: Any, reason: str
) -> None:
    dataset = _dataset(tmp_path, run, per_set)
    evidence = read_evidence(dataset)
    assert evidence is not None and len(evidence.problems) == 1
    assert reason in evidence.problems[0] and "\n" not in evidence.problems[0]
    assert "ignored" in evidence.problems[0]
    report = Report({}, {}, score={})
    add_evidence(report, dataset, SHA, error=False)
    found = report.get("attack-manifest")
    assert found is not None and found.status.value == "warn" and reason in found.message


def test_oversized_linked_out_or_odd_manifests_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evidence_module, "MAX_RUN_BYTES", 100)
    dataset = _dataset(tmp_path / "big", _run(["random"] * 20), None)
    evidence = read_evidence(dataset)
    assert evidence is not None and not evidence.upper_bound
    assert "more than the 100 allowed" in evidence.problems[0]
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(_run(["random"])), encoding="utf-8")
    linked = _dataset(tmp_path / "linked")
    (linked.root / "manifest.json").symlink_to(outside)
    evidence = read_evidence(linked)
    assert evidence is not None and not evidence.upper_bound
    assert "resolves outside" in evidence.problems[0]
    odd = _dataset(tmp_path / "odd")
    (odd.root / "manifest.json").mkdir()
    evidence = read_evidence(odd)
    assert evidence is not None and "not a regular file" in evidence.problems[0]


def test_white_box_draws_per_set_reach_the_score(tmp_path: Path) -> None:
    per_set = {**_set(8), "eot_draws": {"mean": 5.5, "max": 16, "convention": "c"}}
    dataset = _dataset(tmp_path, _run(["random"]), per_set)
    report = Report({}, {}, score={})
    add_evidence(report, dataset, SHA, error=False)
    assert report.score is not None
    assert report.score["attack_manifest"]["eot_draws"] == {
        "square-linf": {"mean": 5.5, "max": 16.0}
    }
