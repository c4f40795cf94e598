"""One report per model and request for the whole session: the model is parsed once, however
many generated tests, fixtures and assertion helpers look at it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_plugin.outcomes import EvaluationError
from pytest_plugin.settings import Settings, profile_spec, session_settings
from validator.config import Profile, load_profile
from validator.errors import ValidatorError
from validator.findings import Report
from validator.pipeline import validate
from validator.scoring.evaluation import ScoreOptions


@dataclass(frozen=True)
class Plan:
    """What to run for one configured model, decided once selection (-k, -m) is final."""

    select: frozenset[str] | None  # check ids; None runs every check
    score: bool


@dataclass(frozen=True)
class _Key:
    model: Path
    profile: str
    data: Path | None
    score: bool
    select: frozenset[str] | None = None


@dataclass
class ReportCache:
    """Reports by (model, profile, data, scoring, checks), computed on first use.

    A configured model runs what its :class:`Plan` says, so ``-k flops`` neither scores nor
    builds an onnxruntime session; without a plan (no collection yet) it runs everything.
    """

    settings: Settings
    _reports: dict[_Key, Report | str] = field(default_factory=dict)  # str: why not evaluated
    _profiles: dict[str, Profile] = field(default_factory=dict)
    _plans: dict[Path, Plan] = field(default_factory=dict)

    def plan(self, plans: Mapping[Path, Plan]) -> None:
        """Set the plans of the configured models (after selection)."""
        self._plans = dict(plans)

    def profile(self, spec: str) -> Profile:
        """The profile ``spec`` (a name or an absolute TOML path), loaded once."""
        if spec not in self._profiles:
            self._profiles[spec] = load_profile(spec)
        return self._profiles[spec]

    def configured(self, model: Path) -> Report:
        """The report of a configured model under the configured settings."""
        settings = self.settings
        plan = self._plans.get(model, Plan(select=None, score=settings.scoring))
        return self.get(model, settings.profile, settings.data, plan.score, plan.select)

    def get(
        self,
        model: Path,
        profile: str,
        data: Path | None,
        score: bool,
        select: frozenset[str] | None = None,
    ) -> Report:
        """The report for this request, from the cache when it was computed before.

        Raises :class:`EvaluationError` when the library cannot evaluate (remembered too)."""
        key = _Key(model, profile, data, score, select)
        if key not in self._reports:
            self._reports[key] = self._evaluate(key)
        result = self._reports[key]
        if isinstance(result, str):
            raise EvaluationError(f"cannot evaluate {model}: {result}")
        return result

    def _evaluate(self, key: _Key) -> Report | str:
        options = ScoreOptions(data=key.data) if key.score else False
        try:
            return validate(
                key.model, self.profile(key.profile), select=key.select, score=options,
                device=self.settings.device,
            )  # fmt: skip
        except ValidatorError as exc:
            if not key.score:
                return str(exc)
            problem = str(exc)
        # The dataset cannot be read: the checks still decide their tests and the thresholds
        # fail with the reason (the library reads the dataset's listing before the model).
        try:
            report = validate(
                key.model, self.profile(key.profile), select=key.select,
                device=self.settings.device,
            )  # fmt: skip
        except ValidatorError as exc:
            return str(exc)
        report.notes.append(f"score skipped: {problem}")
        return report


class ReportFactory:
    """The ``robust_validate`` fixture: ``robust_validate(path, profile=None, data=None, *,
    score=None) -> Report``, through the session cache."""

    def __init__(self, cache: ReportCache, rootpath: Path) -> None:
        self._cache, self._root = cache, rootpath

    def __call__(
        self,
        path: str | Path,
        profile: str | Path | None = None,
        data: str | Path | None = None,
        *,
        score: bool | None = None,
    ) -> Report:
        """Validate ``path`` under ``profile`` (default: the configured one) and, when ``data``
        is given or ``score=True``, score it on ``data`` (None: the profile's reference set).
        Relative paths are relative to the rootdir. Repeated calls return the cached report.

        Raises ``validator.UsageError`` for an unknown profile and
        :class:`~pytest_plugin.EvaluationError` when the model cannot be evaluated at all; a
        broken model is a report with failed checks, not an error."""
        spec = (
            self._cache.settings.profile
            if profile is None
            else profile_spec(str(profile), self._root)
        )
        self._cache.profile(spec)  # an unknown profile raises here, not as EvaluationError
        data_path = self._absolute(data) if data is not None else None
        scoring = data is not None if score is None else score
        return self._cache.get(self._absolute(path), spec, data_path, scoring)

    def _absolute(self, path: str | Path) -> Path:
        return (self._root / Path(path).expanduser()).resolve()


_CACHE = pytest.StashKey[ReportCache]()


def session_reports(config: pytest.Config) -> ReportCache:
    """This session's cache, created on first use."""
    if _CACHE not in config.stash:
        config.stash[_CACHE] = ReportCache(session_settings(config))
    return config.stash[_CACHE]


def check_profile(config: pytest.Config) -> None:
    """Load the configured profile now, so that a bad one is a one-line usage error."""
    try:
        session_reports(config).profile(session_settings(config).profile)
    except ValidatorError as exc:
        raise pytest.UsageError(f"robust_profile: {exc}") from None
