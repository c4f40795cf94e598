from __future__ import annotations

from pathlib import Path

import pytest

from validator.config import PROFILES, load_profile
from validator.errors import UsageError
from validator.findings import Severity
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
    ("text", "message"),
    [
        ("max_mac = 1", "unknown profile field 'max_mac'; did you mean 'max_macs'"),
        ('[severity]\nflop = "error"', "unknown check 'flop'; did you mean 'flops'"),
        ('[severity]\nflops = "fatal"', "unknown severity of flops 'fatal'"),
        ('channel_order = "bgra"', "unknown channel_order 'bgra'"),
        ("max_params = 1.5", "max_params needs a int"),
        ("max_params = [", "not valid TOML"),
    ],
)
def test_bad_toml_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_profile(path)


def test_profile_report_states_every_field() -> None:
    data = load_profile("final").to_dict()
    assert data["name"] == "final"
    assert data["macs_convention"] == "ptflops"
    assert data["severity"]["file-size"] == "warning"
    assert data["severity"]["flops"] == "error"
