"""The plugin's settings: one ``--robust-...`` option group mirrored by ``robust_...`` ini keys.

This module and plugin.py import nothing from the validator library (which loads onnx and
onnxruntime): a session with no model configured pays nothing for the plugin.

Every setting can come from the command line or from the configuration file
(``[tool.pytest.ini_options]`` in pyproject.toml, pytest.ini, tox.ini, setup.cfg); a setting given
on the command line replaces the ini value. Relative paths on the command line are relative to the
directory pytest was invoked from; relative paths in the configuration file are relative to that
file's directory (pytest's rootdir in the usual layout), the same rule as pytest's own path keys.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import pytest

GROUP = "robust"
MARKER = "robust"  # on every generated test: -m robust / -m "not robust"
# Native TOML configuration ([tool.pytest] in pytest 9) hands over a float for a threshold; pytest
# before 8.4 knows no "float" ini type, so there it is a string parsed here.
_PYTEST = tuple(int(part) for part in pytest.__version__.split(".")[:2])
_NUMBER_INI: Literal["float", "string"] = "float" if _PYTEST >= (8, 4) else "string"


class ScoreKind(str, enum.Enum):
    """The scores a threshold can be set on (REPORT.md: ``score.final``, ``score.<set>``,
    ``score.f1`` for Track 2)."""

    FINAL = "final"
    CLEAN = "clean"
    ATTACKED = "attacked"
    F1 = "f1"  # Track 2 profiles: best-threshold F1 of the detector


@dataclass(frozen=True)
class Settings:
    """What the plugin was asked to do, read once per session (paths absolute)."""

    models: tuple[Path, ...]
    profile: str  # a built-in profile name or the absolute path of a TOML file
    data: Path | None
    thresholds: Mapping[ScoreKind, float]
    strict: bool
    device: str = "cpu"  # where onnxruntime runs: cpu, or cuda (the onnxruntime-gpu package)

    @property
    def scoring(self) -> bool:
        """Scoring runs only when a score threshold is configured."""
        return bool(self.thresholds)


DEVICES = ("cpu", "cuda")  # validator.vocab.Device, not imported: see the module docstring
_SETTINGS = pytest.StashKey[Settings]()

# (option suffix, help) for the three thresholds; the ini key is robust_min_<kind>.
_THRESHOLD_HELP = {
    ScoreKind.FINAL: "fail unless the final score (weighted clean and attacked) is at least X",
    ScoreKind.CLEAN: "fail unless accuracy on the clean set is at least X",
    ScoreKind.ATTACKED: "fail unless accuracy on the attacked sets is at least X",
    ScoreKind.F1: "fail unless the detector's best-threshold F1 (Track 2 profiles) is at least X",
}


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--robust-...`` options and their ``robust_...`` ini keys."""
    group = parser.getgroup(GROUP, "robust-validate (competition rules for an ONNX model)")
    group.addoption(
        "--robust-model",
        action="append",
        metavar="PATH",
        dest="robust_model",
        help="ONNX model to check, one test per rule (repeat for several models)",
    )
    group.addoption(
        "--robust-profile",
        metavar="NAME|PATH.toml",
        dest="robust_profile",
        help="rules profile: final (default), preliminary, or a TOML override file",
    )
    group.addoption(
        "--robust-data",
        metavar="DIR",
        dest="robust_data",
        help="dataset root for score thresholds (default: the profile's reference set)",
    )
    for kind, text in _THRESHOLD_HELP.items():
        group.addoption(
            f"--robust-min-{kind.value}",
            metavar="X",
            dest=f"robust_min_{kind.value}",
            help=f"{text} (0 to 1)",
        )
    group.addoption(
        "--robust-device",
        metavar="cpu|cuda",
        dest="robust_device",
        help="where onnxruntime runs the model: cpu (default) or cuda (needs onnxruntime-gpu)",
    )
    group.addoption(
        "--robust-strict",
        action="store_true",
        default=None,
        dest="robust_strict",
        help="a rule that only warns fails its test",
    )
    group.addoption(
        "--robust-no-strict",
        action="store_false",
        default=None,
        dest="robust_strict",
        help="override robust_strict = true from the ini file",
    )
    _add_ini(parser)


def _add_ini(parser: pytest.Parser) -> None:
    parser.addini(
        "robust_model",
        "ONNX model(s) to check (paths relative to this file)",
        type="args",
        default=[],
    )
    parser.addini("robust_profile", "rules profile: final, preliminary or PATH.toml", default="")
    parser.addini("robust_data", "dataset root for score thresholds", default="")
    for kind, text in _THRESHOLD_HELP.items():
        parser.addini(f"robust_min_{kind.value}", text, type=_NUMBER_INI, default=None)
    parser.addini("robust_device", "where onnxruntime runs: cpu or cuda", default="")
    parser.addini(
        "robust_strict", "a rule that only warns fails its test", type="bool", default=False
    )


def session_settings(config: pytest.Config) -> Settings:
    """This session's settings (read at session start)."""
    return config.stash[_SETTINGS]


def install(config: pytest.Config) -> Settings:
    """Read the settings into the session (from pytest_sessionstart)."""
    settings = config.stash[_SETTINGS] = resolve(config)
    return settings


def resolve(config: pytest.Config) -> Settings:
    """Read and check every setting; a bad value is a one-line pytest usage error (a profile is
    checked when a model needs it)."""
    cli_dir, ini_dir = config.invocation_params.dir, _ini_dir(config)
    cli_models: list[str] | None = config.getoption("robust_model")
    if cli_models:
        models = [_absolute(cli_dir, m) for m in cli_models]
    else:
        models = [_absolute(ini_dir, m) for m in config.getini("robust_model")]
    spec, spec_dir = _pick(config, "robust_profile", cli_dir, ini_dir)
    data, data_dir = _pick(config, "robust_data", cli_dir, ini_dir)
    thresholds = {}
    for kind in ScoreKind:
        text, _ = _pick(config, f"robust_min_{kind.value}", cli_dir, ini_dir)
        if text:
            thresholds[kind] = _fraction(f"robust_min_{kind.value}", text)
    strict = config.getoption("robust_strict")
    device, _ = _pick(config, "robust_device", cli_dir, ini_dir)
    return Settings(
        models=tuple(dict.fromkeys(models)),  # the same model twice is checked once
        profile=profile_spec(spec or "final", spec_dir),
        data=_absolute(data_dir, data) if data else None,
        thresholds=MappingProxyType(thresholds),
        strict=bool(config.getini("robust_strict") if strict is None else strict),
        device=_device(device or "cpu"),
    )


def _device(text: str) -> str:
    if text not in DEVICES:
        raise pytest.UsageError(
            f"robust_device: expected one of {', '.join(DEVICES)}, got {text!r}"
        )
    return text


def _ini_dir(config: pytest.Config) -> Path:
    # pytest's rule for "paths" ini values: the config file's folder (the rootdir unless -c or
    # --rootdir moved it), or the invocation folder for -o overrides without a config file.
    return config.inipath.parent if config.inipath is not None else config.invocation_params.dir


def _pick(config: pytest.Config, name: str, cli_dir: Path, ini_dir: Path) -> tuple[str, Path]:
    """The command-line value of ``name`` if given, else the ini value, with its base folder."""
    value: Any = config.getoption(name)
    if value is not None:
        return str(value), cli_dir
    value = config.getini(name)
    return ("" if value is None else str(value).strip()), ini_dir


def _absolute(base: Path, path: str) -> Path:
    return (base / Path(path).expanduser()).resolve()


def profile_spec(spec: str, base: Path) -> str:
    """A built-in profile name as is; a TOML file (``*.toml``) as an absolute path."""
    return str(_absolute(base, spec)) if spec.endswith(".toml") else spec


def _fraction(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise pytest.UsageError(f"{name}: expected a number from 0 to 1, got {text!r}")
    return value


def model_label(config: pytest.Config, model: Path) -> str:
    """The model's path relative to the rootdir (absolute outside it), safe inside a node id."""
    try:
        text = model.relative_to(config.rootpath).as_posix()
    except ValueError:
        text = model.as_posix()
    return text.replace("::", "_").replace("[", "(").replace("]", ")")
