"""Property tests: the profile and suite parsers, fed generated junk (random text, random TOML
values under known and unknown keys), end in a profile/suite or a UsageError, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator.attacks.suites import ATTACKS, load_suite, suite_from_mapping
from validator.config import Profile, load_profile, profile_from_mapping, profile_schema
from validator.errors import UsageError

JUNK = settings(derandomize=True, max_examples=150, deadline=None, database=None)

SCALARS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PROFILE_KEYS = st.sampled_from([*profile_schema().rules, "nonsense"])
ATTACK_KEYS = st.sampled_from(
    ["kind", "budget", "name", "eps", "p_init", "size", "move_every", "width", "intensity",
     "restart_every", "names", "severities", "assign", "bogus"]
)  # fmt: skip
KINDS = st.sampled_from([*ATTACKS.names(), "corruptions", "nope"])


def _only_usage_errors(build: Any, data: Any) -> None:
    try:
        build(data)
    except UsageError as exc:
        assert str(exc) and "Traceback" not in str(exc)


@JUNK
@given(st.dictionaries(PROFILE_KEYS, VALUES, max_size=5))
def test_junk_profiles_give_a_profile_or_a_usage_error(data: dict[str, Any]) -> None:
    try:
        profile = profile_from_mapping(data)
    except UsageError:
        return
    assert isinstance(profile, Profile)


@JUNK
@given(
    st.dictionaries(st.sampled_from(["name", "seed", "max_images", "x"]), VALUES, max_size=3),
    st.lists(st.dictionaries(ATTACK_KEYS, VALUES, max_size=4).map(dict), max_size=3),
    st.lists(KINDS, max_size=3),
)
def test_junk_suites_give_a_suite_or_a_usage_error(
    top: dict[str, Any], tables: list[dict[str, Any]], kinds: list[str]
) -> None:
    for table, kind in zip(tables, kinds, strict=False):
        table["kind"] = kind
    _only_usage_errors(suite_from_mapping, {**top, "attack": tables})


@JUNK
@given(st.text(max_size=300))
def test_junk_toml_text_gives_a_profile_or_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "junk.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _only_usage_errors(load_profile, path)


@JUNK
@given(st.binary(max_size=300))
def test_junk_toml_bytes_give_a_suite_or_a_usage_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path: Path = tmp_path_factory.getbasetemp() / "junk-suite.toml"
    path.write_bytes(b'[[attack]]\nkind = "patch"\n' + raw)
    _only_usage_errors(load_suite, path)
