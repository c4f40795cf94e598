"""Suites: the built-in ones, TOML files, and clear errors for unknown names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from validator.attacks.suites import SUITES, load_suite, suite_from_mapping
from validator.errors import UsageError


def test_standard_suite_has_every_family_and_all_corruptions() -> None:
    suite = load_suite("standard")
    names = [e.attack.name for e in suite.entries]
    assert names[:4] == ["square-linf", "square-l2", "patch", "laser"]
    assert sum(1 for e in suite.entries if e.attack.family.value == "corruption") == 75
    assert {"pgd-linf", "apgd-ce", "apgd-dlr"} <= set(names)
    assert suite.entries[0].attack.params["eps"] == pytest.approx(8 / 255)


def test_cycled_severities_give_each_image_one_severity_per_corruption() -> None:
    fog = [e for e in load_suite("standard").entries if e.attack.name.startswith("fog-")]
    for position in range(10):
        assert sum(e.takes(position) for e in fog) == 1


def test_quick_suite_is_small() -> None:
    suite = load_suite("quick")
    assert suite.max_images == 100
    assert max(e.budget for e in suite.entries) <= 100


def test_toml_suite(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'seed = 3\nbatch = 8\n[[attack]]\nkind = "square-linf"\nbudget = 50\neps = 0.01\n'
        '[[attack]]\nkind = "corruptions"\nnames = ["fog"]\nseverities = [2]\nassign = "all"\n',
        encoding="utf-8",
    )
    suite = load_suite(path)
    assert suite.name == "mine" and suite.seed == 3 and suite.batch == 8
    assert "batch" not in suite.to_dict()  # speed only: the manifest does not depend on it
    assert [(e.attack.name, e.budget) for e in suite.entries] == [
        ("square-linf", 50),
        ("fog-s2", 1),
    ]
    assert suite.entries[1].takes(7)


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        ({"attack": [{"kind": "square-lnf"}]}, "did you mean 'square-linf'"),
        ({"attack": [{"kind": "patch", "sise": 0.1}]}, "did you mean 'size'"),
        ({"attack": [{"kind": "corruptions", "names": ["fogg"]}]}, "did you mean 'fog'"),
        ({"atack": []}, "did you mean 'attack'"),
        ({"attack": [{"kind": "laser"}, {"kind": "laser"}]}, "two sets named 'laser'"),
        ({"attack": []}, "lists no attack"),
        ({"attack": [{"budget": 3}]}, "attack[0].kind: missing: give one of apgd-ce"),
        ({"attack": [{"kind": "patch", "name": "../../x"}]}, "attack[0].name: '../../x' is not"),
        ({"attack": [{"kind": "patch", "name": "/tmp/x"}]}, "is not a plain name"),
        ({"attack": [{"kind": "patch", "name": ".."}]}, "is not a plain name"),
        ({"attack": [{"kind": "patch", "budget": 0}]}, "attack[0].budget: 0 is out of range"),
        ({"attack": [{"kind": "patch", "budget": 2.5}]}, "needs a whole number, got 2.5"),
        ({"attack": [{"kind": "square-linf", "eps": float("nan")}]}, "needs a finite number"),
        ({"attack": [{"kind": "square-linf", "eps": 8}]}, "attack[0].eps: 8 is out of range"),
        ({"attack": [{"kind": "laser", "width": [0.5, 0.1]}]}, "low <= high"),
        ({"attack": [{"kind": "laser", "width": [0.1]}]}, "needs exactly 2 items"),
        ({"attack": [{"kind": "corruptions", "severities": [6]}]}, "severities[0]: 6 is out"),
        ({"attack": [{"kind": "corruptions", "names": "fog"}]}, "attack[0].names: needs a list"),
        ({"attack": {"kind": "patch"}}, "attack: needs a list"),
        ({"attack": ["patch"]}, "attack[0]: needs a table"),
        ({"seed": -1, "attack": [{"kind": "patch"}]}, "seed: -1 is out of range"),
        ({"max_images": 0, "attack": [{"kind": "patch"}]}, "max_images: 0 is out of range"),
        ({"batch": 0, "attack": [{"kind": "patch"}]}, "batch: 0 is out of range"),
        ({"attack": [{"kind": "laser", "beams": 0}]}, "attack[0].beams: 0 is out of range"),
    ],
)
def test_bad_suites_are_refused_with_a_hint(data: dict[str, object], hint: str) -> None:
    with pytest.raises(UsageError, match=re.escape(hint)):
        suite_from_mapping(data)


def test_unknown_suite_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'quick'"):
        load_suite("quik")
    assert SUITES.names() == ["standard", "quick"]
