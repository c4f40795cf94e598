"""What the ensemble analysis reports: the verdict, each member branch, the fusion, why."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from validator.graph.fusion import Fusion


class EnsembleVerdict(str, enum.Enum):
    """What the ensemble analysis concluded (values are what the JSON says)."""

    SINGLE = "single"
    ENSEMBLE = "ensemble"
    MULTI_VIEW = "multi-view"


@dataclass(frozen=True)
class Member:
    """One branch: where it starts and ends, its work, which distinct model it runs."""

    starts: tuple[str, ...]
    ends: tuple[str, ...]
    macs: int
    share: float
    layers: int
    model: int
    view: str

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "starts": list(self.starts),
            "ends": list(self.ends),
            "macs": self.macs,
            "share": round(self.share, 4),
            "weighted_layers": self.layers,
            "model": self.model,
            "view": self.view,
        }


@dataclass(frozen=True)
class EnsembleEvidence:
    """The verdict and the evidence a person can check in the graph."""

    verdict: EnsembleVerdict
    reason: str
    members: tuple[Member, ...] = ()
    fusion: Fusion | None = None
    total_macs: int = 0
    shared_share: float = 0.0
    output: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def models(self) -> int:
        """Number of distinct models (weight sets) among the members."""
        return len({m.model for m in self.members}) if self.members else 1

    def to_dict(self) -> dict[str, object]:
        """JSON form (REPORT.md ``measurements.ensemble``)."""
        return {
            "verdict": self.verdict.value,
            "members": [m.to_dict() for m in self.members],
            "fusion": self.fusion.to_dict() if self.fusion else None,
            "models": self.models,
            "reason": self.reason,
            "shared_share": round(self.shared_share, 4),
            "output": self.output,
            "notes": list(self.notes),
        }
