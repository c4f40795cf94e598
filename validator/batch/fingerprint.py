"""What a batch evaluates with, and the fingerprint that says whether a finished evaluation
still stands.

A submission's fingerprint covers everything its result depends on: its content (sha256), the
resolved profile (every field), the data set listing (each set's name and kind, each image's
name, label and byte size), the attack suite (a built-in name, or the TOML file's bytes),
``--checks-only`` and the tool's version. A finished result whose fingerprint matches is not
evaluated again; any change makes a new fingerprint, so that submission is redone.

Profiles and suites given as TOML files travel as their text, so a worker on another machine
needs only the model and the data set at the same path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator import __version__
from validator.config import Profile, load_profile
from validator.data.datasets import Dataset
from validator.errors import UsageError
from validator.scoring.evaluation import ScoreOptions, score_target, scoring_options

MAX_TOML_BYTES = 1_000_000


@dataclass(frozen=True)
class Source:
    """A profile or an attack suite as the command line named it: a built-in ``name``, or
    the ``text`` of a TOML file (``name`` is then the file's name)."""

    name: str
    text: str | None = None

    @classmethod
    def from_option(cls, spec: str) -> Source:
        """A built-in name as is; anything ending in .toml read as text."""
        if not spec.endswith(".toml"):
            return cls(spec)
        path = Path(spec)
        try:
            if not path.is_file() or path.stat().st_size > MAX_TOML_BYTES:
                raise UsageError(f"{spec} is not a TOML file of at most {MAX_TOML_BYTES} bytes")
            return cls(path.name, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {spec}: {exc}") from None

    def digest(self) -> str:
        """The built-in name, or the sha256 of the TOML text."""
        if self.text is None:
            return self.name
        return "sha256:" + hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True)
class Settings:
    """The evaluation settings shared by every submission of one batch (plain values, so
    they travel to Ray workers)."""

    profile: Source
    data: str | None
    suite: Source | None
    checks_only: bool
    timeout_s: float  # the batch's safety net over one evaluation (the profile limits come first)


def resolve_settings(
    profile: str, data: Path | None, suite: str | None, checks_only: bool
) -> tuple[Settings, Profile, str]:
    """Check the options once for the whole batch (a bad profile, suite or data set is a
    usage or data error before any submission runs); the settings, the profile and the
    digest of the data set listing."""
    scoring_options(checks_only, data, attack=suite)  # --checks-only with scoring options
    prof = load_profile(profile)
    source = Source.from_option(profile)
    suite_source = Source.from_option(suite) if suite else None
    listing = "checks-only"
    if not checks_only:
        target = score_target(ScoreOptions(data, attack=suite), prof)
        listing = dataset_digest(target.dataset) if target.dataset else f"none: {target.name}"
    limits = prof.limit_analysis_s + prof.limit_runtime_s + prof.limit_scoring_s
    timeout = 2 * limits + 300.0  # restarts after a breach can take each phase twice
    data_text = str(data.resolve()) if data is not None else None
    return Settings(source, data_text, suite_source, checks_only, timeout), prof, listing


def dataset_digest(dataset: Dataset) -> str:
    """sha256 of the listing: each set's name and kind, each image's name, label and size."""
    digest = hashlib.sha256()
    for image_set in dataset.sets:
        digest.update(f"set\0{image_set.name}\0{image_set.kind.value}\n".encode())
        for sample in image_set.samples:
            size = sample.path.stat().st_size
            digest.update(f"{sample.name}\0{sample.label}\0{size}\n".encode())
    return digest.hexdigest()


def fingerprint(sha256: str, settings: Settings, profile: Profile, listing: str) -> str:
    """The fingerprint of one submission's evaluation (a sha256 hex digest)."""
    parts: dict[str, Any] = {
        "model": sha256,
        "profile": profile.to_dict(),
        "data": listing,
        "suite": settings.suite.digest() if settings.suite else None,
        "checks_only": settings.checks_only,
        "version": __version__,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
