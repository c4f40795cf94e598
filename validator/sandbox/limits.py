"""The limits a child process runs under, taken from the profile (and --threads)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from validator.errors import UsageError
from validator.vocab import Breach, Phase

if TYPE_CHECKING:
    from validator.config import Profile


def usable_cores() -> int:
    """Cores this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """Wall time per phase (seconds), address space of the child (bytes), and onnxruntime
    intra-op threads (never more than the cores)."""

    seconds: Mapping[Phase, float]
    memory_bytes: int
    threads: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", MappingProxyType(dict(self.seconds)))

    @classmethod
    def from_profile(cls, profile: Profile, threads: int | None = None) -> Limits:
        """The profile's limits; ``threads`` (the --threads option) overrides the profile's,
        and more threads than cores is a usage error."""
        cores = usable_cores()
        if threads is not None and threads > cores:
            raise UsageError(f"--threads {threads} is more than the {cores} cores available")
        wanted = threads or profile.threads or cores
        seconds = {
            Phase.ANALYSIS: profile.limit_analysis_s,
            Phase.RUNTIME: profile.limit_runtime_s,
            Phase.SCORING: profile.limit_scoring_s,
            Phase.ATTACK: profile.limit_attack_s,
        }
        return cls(seconds, profile.limit_memory_bytes, min(wanted, cores))

    def describe(self, phase: Phase, breach: Breach, detail: str = "") -> str:
        """One line naming the limit a phase broke, e.g. "analysis stopped after 300 s"."""
        field = f"limit_{phase.value}_s"
        if breach is Breach.TIMEOUT:
            return f"{_TITLES[phase]} stopped after {self.seconds[phase]:g} s (profile {field})"
        if breach is Breach.MEMORY:
            return (
                f"{_TITLES[phase]} exceeded the {self.memory_bytes / 1e9:.3g} GB memory limit "
                "(profile limit_memory_bytes)"
            )
        return f"{_TITLES[phase]} crashed{': ' + detail if detail else ''}"


_TITLES = {
    Phase.ANALYSIS: "graph analysis",
    Phase.RUNTIME: "onnxruntime run",
    Phase.SCORING: "scoring",
    Phase.ATTACK: "the attack run",
}
