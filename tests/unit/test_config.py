from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from validator import validate
from validator.config import PROFILES, Profile, load_profile, profile_schema
from validator.errors import UsageError
from validator.findings import Severity, Status, Verdict
from validator.vocab import ChannelOrder, CheckId, MacsConvention


@pytest.mark.parametrize(("name", "classes"), [("final", 100), ("preliminary", 20)])
def test_builtin_profiles_hold_the_competition_limits(name: str, classes: int) -> None:
    profile = load_profile(name)
    assert profile.num_classes == classes
    assert profile.max_params == 30_000_000
    assert profile.max_file_bytes == 120_000_000
    assert profile.max_macs == 5_000_000_000
    assert profile.macs_convention is MacsConvention.PTFLOPS
    assert profile.channel_order is ChannelOrder.BGR


def test_unknown_profile_suggests_the_closest_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'preliminary'"):
        load_profile("prelim")


def test_toml_overrides_fields_and_severities(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'base = "preliminary"\nmax_macs = 2e9\nchannel_order = "rgb"\n'
        '[severity]\nfile-size = "error"\nflops = "warning"\n'
    )
    profile = load_profile(path)
    assert profile.name == "mine"
    assert profile.num_classes == 20
    assert profile.max_macs == 2_000_000_000 and isinstance(profile.max_macs, int)
    assert profile.channel_order is ChannelOrder.RGB
    assert profile.severity_of(CheckId.FILE_SIZE) is Severity.ERROR
    assert profile.severity_of(CheckId.FLOPS) is Severity.WARNING
    assert PROFILES.get("preliminary").max_macs == 5_000_000_000  # the base is untouched


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("max_mac = 1", "", "unknown profile field 'max_mac'; did you mean 'max_macs'"),
        (
            '[severity]\nflop = "error"',
            "severity.flop",
            "unknown check 'flop'; did you mean 'flops'",
        ),
        ('[severity]\nflops = "fatal"', "severity.flops", "unknown severity 'fatal'"),
        ('[severity]\nload = "warning"', "severity.load", "load is always an error"),
        ("severity = 3", "severity", "needs a table"),
        ('channel_order = "bgra"', "channel_order", "unknown channel_order 'bgra'"),
        ("max_params = 1.5", "max_params", "needs a whole number, got 1.5"),
        ('max_params = "30M"', "max_params", "needs a whole number"),
        ("max_params = true", "max_params", "needs a whole number, got True"),
        ("max_params = 0", "max_params", "0 is out of range 1.."),
        ("max_macs = inf", "max_macs", "needs a whole number, got inf"),
        ("num_classes = -3", "num_classes", "out of range 1..100000"),
        ("input_size = 100000", "input_size", "out of range 8..2048"),
        ("tolerance = nan", "tolerance", "needs a finite number, got nan"),
        ("weight_clean = -0.1", "weight_clean", "out of range 0..1"),
        ('base = "fnal"', "base", "unknown profile 'fnal'; did you mean 'final'"),
        ('reference_data = "../../etc"', "reference_data", "is not a plain name"),
        ('name = "a\\u001b[31m"', "name", "needs printable text"),
        ("max_params = [", "", "not valid TOML"),
        ("x = " + "[" * 5000, "", "not valid TOML"),
    ],
)
def test_bad_toml_is_a_usage_error_naming_file_and_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(f"profile {path}")
    assert f": {key}: " in str(caught.value) if key else True
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_profile_field_declares_its_rule() -> None:
    fields = {f.name for f in dataclasses.fields(Profile)}
    assert set(profile_schema().rules) == fields | {"base"}


def test_a_non_model_fails_whatever_the_profile(tmp_path: Path) -> None:
    lowered = "".join(f'{c.value} = "warning"\n' for c in CheckId if c is not CheckId.LOAD)
    path = tmp_path / "lenient.toml"
    path.write_text(f"[severity]\n{lowered}")
    model = tmp_path / "not-a-model.onnx"
    model.write_bytes(b"hello")
    report = validate(model, path)
    assert report.verdict is Verdict.FAIL
    assert report.get("load").status is Status.FAIL  # type: ignore[union-attr]


def test_profile_report_states_every_field() -> None:
    data = load_profile("final").to_dict()
    assert data["name"] == "final"
    assert data["macs_convention"] == "ptflops"
    assert data["severity"]["file-size"] == "warning"
    assert data["severity"]["flops"] == "error"
