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
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from validator.errors import UsageError
from validator.findings import Severity
from validator.registry import Registry, unknown_name_message
from validator.vocab import (
    ChannelOrder,
    CheckId,
    MacsConvention,
    ResizeMode,
    ScoreDirection,
    Task,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
        CheckId.SCORE_SPREAD: Severity.WARNING,
    }
)


@dataclass(frozen=True)
class Profile:
    """One complete rule set. Every field appears in the report so a result is reproducible."""

    name: str
    num_classes: int
    channel_order: ChannelOrder = ChannelOrder.BGR
    input_size: int = 224
    max_params: int = 30_000_000
    max_file_bytes: int = 120_000_000
    max_macs: int = 5_000_000_000
    macs_convention: MacsConvention = MacsConvention.PTFLOPS
    max_opset: int = 15  # onnxruntime 1.10, the official environment
    resize: ResizeMode = ResizeMode.STRETCH
    weight_clean: float = 0.4
    weight_attacked: float = 0.6
    reference_data: str = "final"  # folder under reference_data/ used when --data is absent
    runtime_batch: int = 8
    tolerance: float = 1e-4  # max |difference| of outputs for determinism / batch-consistency
    # Isolation (validator/sandbox): wall time per phase in seconds, the child's address space
    # in bytes, onnxruntime intra-op threads (0 = every core; never more than the cores).
    limit_analysis_s: float = 300.0
    limit_runtime_s: float = 300.0
    limit_scoring_s: float = 14_400.0
    limit_attack_s: float = 14_400.0
    limit_memory_bytes: int = 8_000_000_000
    threads: int = 0
    task: Task = Task.CLASSIFICATION  # detection: Track 2, N x 1 scores, best-threshold F1
    positive: ScoreDirection = ScoreDirection.HIGH  # detection: which end means adversarial
    severity: Mapping[CheckId, Severity] = field(default_factory=lambda: dict(DEFAULT_SEVERITY))

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

_ENUM_FIELDS: Mapping[str, type] = {
    "channel_order": ChannelOrder,
    "macs_convention": MacsConvention,
    "resize": ResizeMode,
    "task": Task,
    "positive": ScoreDirection,
}


def load_profile(spec: str | Path) -> Profile:
    """A built-in profile by name, or a TOML file (anything ending in .toml) that overrides one."""
    text = str(spec)
    if not text.endswith(".toml"):
        return PROFILES.get(text)
    path = Path(text)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read profile {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"profile {path} is not valid TOML: {exc}") from None
    return profile_from_mapping(data, default_name=path.stem)


def profile_from_mapping(data: Mapping[str, Any], default_name: str = "custom") -> Profile:
    """Apply the overrides in ``data`` (TOML-shaped) to its ``base`` profile (default final)."""
    values = dict(data)
    base = PROFILES.get(str(values.pop("base", "final")))
    severity = dict(base.severity)
    for key, level in dict(values.pop("severity", {})).items():
        severity[_check_id(key)] = _enum(Severity, level, f"severity of {key}")
    known = {f.name for f in dataclasses.fields(Profile)} - {"severity", "name"}
    changes: dict[str, Any] = {"name": values.pop("name", default_name), "severity": severity}
    for key, value in values.items():
        if key not in known:
            raise UsageError(unknown_name_message("profile field", key, known))
        changes[key] = _coerce(key, value, getattr(base, key))
    return dataclasses.replace(base, **changes)


def _check_id(name: str) -> CheckId:
    try:
        return CheckId(name)
    except ValueError:
        raise UsageError(unknown_name_message("check", name, [c.value for c in CheckId])) from None


def _enum(kind: type, value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        choices = [m.value for m in kind]  # type: ignore[attr-defined]
        raise UsageError(unknown_name_message(what, str(value), choices)) from None


def _coerce(key: str, value: Any, current: Any) -> Any:
    if key in _ENUM_FIELDS:
        return _enum(_ENUM_FIELDS[key], value, key)
    if isinstance(current, bool) or not isinstance(current, (int, float, str)):
        return value
    try:
        # TOML writes 5e9 as a float; integer fields accept any whole number.
        if isinstance(current, int):
            if float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        return type(current)(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"profile field {key} needs a {type(current).__name__}, got {value!r}"
        ) from None
