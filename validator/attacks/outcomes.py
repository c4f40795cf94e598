"""What a suite run produced: one outcome per attacked set, the run as a whole, and the
per-image worst case over every set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validator.attacks.masking import Sign, SignKind
from validator.attacks.model_fn import SCORE_DRAWS
from validator.attacks.suites import Suite
from validator.findings import Finding


@dataclass(frozen=True)
class SetOutcome:
    """One attacked set: how many images, how many the attack fooled, or why it was skipped."""

    name: str
    family: str
    params: dict[str, Any]
    budget: int
    images: int
    fooled: int
    queries: int
    skipped: str | None = None
    folder: Path | None = None
    expected_correct: float | None = None  # random model: sum over images of P(correct)
    worst_correct: int | None = None  # random model: images right in every scoring run
    methods: dict[str, int] = field(default_factory=dict)  # method actually used -> images
    eot_draws: dict[str, Any] | None = None  # white-box: draws per gradient (eot_summary)

    @property
    def correct(self) -> int:
        """Images still classified correctly after the attack."""
        return self.images - self.fooled

    @property
    def accuracy(self) -> float | None:
        """Attacked accuracy (None for a skipped or empty set)."""
        return None if self.skipped or not self.images else self.correct / self.images

    def to_dict(self) -> dict[str, Any]:
        """The set as the top-level manifest and the report list it."""
        return {
            "name": self.name,
            "family": self.family,
            "params": self.params,
            "budget": self.budget,
            "images": self.images,
            "correct": self.correct,
            "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
            "queries": self.queries,
            "skipped": self.skipped,
            "methods": dict(self.methods),
            "randomized": self.randomized(),
            "eot_draws": self.eot_draws,
        }

    def randomized(self) -> dict[str, Any] | None:
        """A random model's expected and worst-case accuracy over its scoring runs."""
        if self.expected_correct is None or not self.images:
            return None
        return {
            "draws_per_image": SCORE_DRAWS,
            "expected_correct": round(self.expected_correct, 4),
            "expected_accuracy": round(self.expected_correct / self.images, 6),
            "worst_case_correct": self.worst_correct,
            "worst_case_accuracy": ratio(self.worst_correct or 0, self.images),
        }


@dataclass(frozen=True)
class SuiteRun:
    """Everything a suite run produced."""

    suite: Suite
    sets: tuple[SetOutcome, ...]
    findings: tuple[Finding, ...]
    signs: tuple[Sign, ...]
    manifest: dict[str, Any] = field(default_factory=dict)
    worst_case: dict[str, Any] | None = None  # see :func:`worst_case`

    @property
    def randomized(self) -> bool:
        """True when the model's outputs differ between runs (scored by expectation)."""
        return any(s.kind is SignKind.RANDOM for s in self.signs)

    @property
    def upper_bound(self) -> bool:
        """True when masking evidence remains: attacked numbers are upper bounds."""
        return bool(self.signs)

    @property
    def attacked(self) -> tuple[SetOutcome, ...]:
        """Sets that ran (not skipped)."""
        return tuple(s for s in self.sets if s.skipped is None)


def worst_case(outcomes: dict[str, dict[str, bool]]) -> dict[str, Any] | None:
    """Per image, right under every attacked set that took it (AutoAttack's robust accuracy
    over all the attacks run, corruptions included); for a random model an image counts as
    right only when every scoring run was. None when no set ran."""
    right: dict[str, bool] = {}
    for per_image in outcomes.values():
        for source, ok in per_image.items():
            right[source] = right.get(source, True) and ok
    if not right:
        return None
    correct = sum(right.values())
    return {
        "images": len(right),
        "correct": correct,
        "accuracy": ratio(correct, len(right)),
        "sets": sorted(outcomes),
        "convention": "an image counts as right only if every attacked set that took it left "
        "it right",
    }


def eot_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Draws per gradient over a white-box set's images (each record's ``eot_draws`` is its
    mean over the attack's steps): 1 for a deterministic model; None for other attacks."""
    values = [float(r["eot_draws"]) for r in records if "eot_draws" in r]
    if not values:
        return None
    return {
        "mean": round(sum(values) / len(values), 2),
        "max": round(max(values), 2),
        "convention": "model runs averaged per gradient and image (EOT), mean over the steps; "
        "1 for a deterministic model",
    }


def ratio(a: int, b: int) -> float | None:
    """``a / b`` rounded to 6 places; None when ``b`` is 0."""
    return round(a / b, 6) if b else None
