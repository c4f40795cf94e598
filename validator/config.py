"""Profiles: the rule set a model is judged against, as frozen dataclasses.

``final`` mirrors the competition's final round (100 classes); ``preliminary`` the 20-class phase.
``track2`` and ``track2-preliminary`` are Track 2's: a detector with one output per image
(``task = "detection"``), scored by best-threshold F1, where ``positive = "high"`` (default) says
a higher score means adversarial and ``positive = "low"`` the opposite.
A TOML file can start from any of them and override any field, including each check's severity::

    base = "final"
    num_classes = 10
    max_macs = 2e9
    [severity]
    file-size = "error"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from validator.findings import Severity
from validator.registry import Registry
from validator.schema import Choice, Float, Int, Invalid, MapOf, Name, Rule, Schema, Text, load_toml
from validator.schema import check as check_schema
from validator.vocab import (
    ChannelOrder,
    CheckId,
    MacsConvention,
    MaskingPolicy,
    ResizeMode,
    ScoreDirection,
    Task,
)

DEFAULT_SEVERITY: Mapping[CheckId, Severity] = MappingProxyType(
    {
        CheckId.LOAD: Severity.ERROR,
        CheckId.RUNTIME: Severity.ERROR,
        CheckId.FP32: Severity.ERROR,
        CheckId.INPUT: Severity.ERROR,
        CheckId.OUTPUT: Severity.ERROR,
        CheckId.PARAMS: Severity.ERROR,
        CheckId.FILE_SIZE: Severity.WARNING,
        CheckId.FLOPS: Severity.ERROR,
        CheckId.OPSET: Severity.WARNING,
        CheckId.OPERATORS: Severity.WARNING,
        CheckId.ENSEMBLE: Severity.ERROR,
        CheckId.DETERMINISM: Severity.WARNING,
        CheckId.BATCH_CONSISTENCY: Severity.WARNING,
        CheckId.MASKING: Severity.WARNING,
        CheckId.CONVERTIBLE: Severity.WARNING,
        CheckId.ATTACK_MANIFEST: Severity.WARNING,
        CheckId.SCORE_SPREAD: Severity.WARNING,
        CheckId.TORCH_OUTPUT: Severity.ERROR,
        CheckId.TORCH_PARAMS: Severity.ERROR,
        CheckId.TORCH_FLOPS: Severity.ERROR,
        CheckId.TORCH_TRAINABLE: Severity.ERROR,
        CheckId.TORCH_COMPAT: Severity.WARNING,
        CheckId.EXPORT: Severity.WARNING,
        CheckId.PLATFORM_CONVERSION: Severity.WARNING,
    }
)


class _Severities:
    """The ``[severity]`` table: check id -> error/warning; ``load`` stays an error, so no
    profile can make a file that is not a model pass."""

    table = MapOf(Choice("check", CheckId), Choice("severity", Severity))

    def __call__(self, value: Any) -> dict[CheckId, Severity]:
        levels: dict[CheckId, Severity] = self.table(value)
        if levels.get(CheckId.LOAD, Severity.ERROR) is not Severity.ERROR:
            raise Invalid("load is always an error: a file that is not a model cannot pass", "load")
        return levels


SEVERITIES = _Severities()
RULE = "rule"  # the key of a field's schema rule in its dataclass metadata


def setting(rule: Rule, default: Any = dataclasses.MISSING) -> Any:
    """A profile field checked by ``rule`` when a TOML file sets it (one line per field)."""
    return field(default=default, metadata={RULE: rule})


@dataclass(frozen=True)
class Profile:
    """One complete rule set. Every field appears in the report so a result is reproducible.

    Each field declares the rule a TOML override must satisfy (validator.schema)."""

    name: str = setting(Text(100))
    num_classes: int = setting(Int(1, 100_000))  # 1: a Track 2 detector
    channel_order: ChannelOrder = setting(Choice("channel_order", ChannelOrder), ChannelOrder.BGR)
    input_size: int = setting(Int(8, 2048), 224)
    max_params: int = setting(Int(1, 10**12), 30_000_000)
    max_file_bytes: int = setting(Int(1, 2**40), 120_000_000)
    max_macs: int = setting(Int(1, 10**15), 5_000_000_000)
    macs_convention: MacsConvention = setting(
        Choice("macs_convention", MacsConvention), MacsConvention.PTFLOPS
    )
    max_opset: int = setting(Int(1, 100), 15)  # onnxruntime 1.10, the official environment
    resize: ResizeMode = setting(Choice("resize", ResizeMode), ResizeMode.STRETCH)
    weight_clean: float = setting(Float(0.0, 1.0), 0.4)
    weight_attacked: float = setting(Float(0.0, 1.0), 0.6)
    masking: MaskingPolicy = setting(Choice("masking", MaskingPolicy), MaskingPolicy.WARN)
    # folder under reference_data/ used when --data is absent
    reference_data: str = setting(Name(), "final")
    runtime_batch: int = setting(Int(1, 256), 8)
    # of those images, how many are also run alone (a batch of one), spread over the batch, for
    # batch-consistency and determinism; runtime_batch or more: every one (the strictest)
    runtime_alone: int = setting(Int(1, 256), 2)
    # max |difference| of outputs for determinism / batch-consistency
    tolerance: float = setting(Float(0.0, 1e3), 1e-4)
    # Isolation (validator/sandbox): wall time per phase in seconds, the child's address space
    # in bytes, onnxruntime intra-op threads (0 = every core; never more than the cores).
    limit_analysis_s: float = setting(Float(1.0, 7 * 86_400.0), 300.0)
    limit_runtime_s: float = setting(Float(1.0, 7 * 86_400.0), 300.0)
    limit_scoring_s: float = setting(Float(1.0, 30 * 86_400.0), 14_400.0)
    limit_attack_s: float = setting(Float(1.0, 30 * 86_400.0), 14_400.0)
    limit_memory_bytes: int = setting(Int(2**28, 2**50), 8_000_000_000)
    threads: int = setting(Int(0, 4096), 0)
    # detection: Track 2, N x 1 scores, best-threshold F1
    task: Task = setting(Choice("task", Task), Task.CLASSIFICATION)
    # detection: which end of the score means adversarial
    positive: ScoreDirection = setting(Choice("positive", ScoreDirection), ScoreDirection.HIGH)
    severity: Mapping[CheckId, Severity] = field(
        default_factory=lambda: dict(DEFAULT_SEVERITY), metadata={RULE: SEVERITIES}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", MappingProxyType(dict(self.severity)))

    def severity_of(self, check: CheckId) -> Severity:
        """The severity this profile gives ``check``."""
        return self.severity.get(check, Severity.ERROR)

    def to_dict(self) -> dict[str, Any]:
        """The profile in full, as REPORT.md's ``profile`` object."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "severity":
                value = {k.value: v.value for k, v in value.items()}
            elif hasattr(value, "value"):
                value = value.value
            out[f.name] = value
        return out


PROFILES: Registry[Profile] = Registry("profile")
PROFILES.add("final", Profile(name="final", num_classes=100, reference_data="final"))
PROFILES.add(
    "preliminary", Profile(name="preliminary", num_classes=20, reference_data="preliminary")
)
for _name in ("track2", "track2-preliminary"):
    # Track 2's rules are Track 1's, with one output per image; the preliminary round's Track 2
    # differences were never published, so both profiles share the reference set.
    PROFILES.add(
        _name,
        Profile(name=_name, num_classes=1, reference_data="track2", task=Task.DETECTION),
    )


def profile_schema() -> Schema:
    """What a profile TOML may hold: ``base`` and every field of Profile, by its rule."""
    rules = {f.name: f.metadata[RULE] for f in dataclasses.fields(Profile)}
    return Schema("profile field", {"base": Choice("profile", tuple(PROFILES.names())), **rules})


def load_profile(spec: str | Path) -> Profile:
    """A built-in profile by name, or a TOML file (anything ending in .toml) that overrides one."""
    text = str(spec)
    if not text.endswith(".toml"):
        return PROFILES.get(text)
    path = Path(text)
    data = load_toml(path, "profile", profile_schema())
    return _apply(data, path.stem)


def profile_from_mapping(
    data: Mapping[str, Any], default_name: str = "custom", source: str = "profile"
) -> Profile:
    """Apply the overrides in ``data`` (TOML-shaped) to its ``base`` profile (default final);
    UsageError naming ``source`` and the key for anything the schema refuses."""
    return _apply(check_schema(dict(data), profile_schema(), source), default_name)


def _apply(checked: dict[str, Any], default_name: str) -> Profile:
    base = PROFILES.get(checked.pop("base", "final"))
    severity = {**base.severity, **checked.pop("severity", {})}
    changes = {"name": default_name, **checked, "severity": severity}
    return dataclasses.replace(base, **changes)
