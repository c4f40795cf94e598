"""Attacks by name, and suites: which attacks run, with which budgets, on which images.

A suite is ``standard``, ``quick``, or a TOML file::

    name = "mine"            # optional; default the file's stem
    seed = 0                 # base of every per-image seed
    max_images = 200         # optional: attack only the first N clean images
    [[attack]]
    kind = "square-linf"     # a registered attack (see ATTACKS)
    budget = 1000            # queries per image (iterations for white-box attacks)
    eps = 0.0313725          # any parameter of that attack
    [[attack]]
    kind = "corruptions"     # expands to one set per corruption and severity
    names = ["fog", "snow"]  # default: all 15
    severities = [1, 2, 3, 4, 5]
    assign = "cycle"         # "cycle": image i gets severity number i mod 5; "all": every image

Unknown attack kinds and parameters are refused with a "did you mean" message.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator.attacks.base import Attack
from validator.attacks.corruption import SEVERITIES, Corruption
from validator.attacks.imagenet_c import CORRUPTIONS
from validator.attacks.laser import LaserBeam
from validator.attacks.patch import PatchAttack
from validator.attacks.rays import RaySAttack
from validator.attacks.square import SquareL2, SquareLinf
from validator.attacks.whitebox import WhiteBox
from validator.errors import UsageError
from validator.registry import Registry, unknown_name_message

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Entry:
    """One attacked set of a suite: the attack, its budget, and which images it gets
    (those whose position ``i`` in the clean set has ``i % every == offset``)."""

    attack: Attack
    budget: int
    every: int = 1
    offset: int = 0

    def takes(self, position: int) -> bool:
        """True when the clean image at ``position`` belongs to this set."""
        return position % self.every == self.offset


@dataclass(frozen=True)
class Suite:
    """A named list of attacked sets with a base seed."""

    name: str
    entries: tuple[Entry, ...]
    seed: int = 0
    max_images: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The suite as the manifest records it."""
        return {
            "name": self.name,
            "seed": self.seed,
            "max_images": self.max_images,
            "sets": [e.attack.name for e in self.entries],
        }


Factory = Callable[..., Attack]
ATTACKS: Registry[Factory] = Registry("attack")
ATTACKS.add("square-linf", SquareLinf)
ATTACKS.add("square-l2", SquareL2)
ATTACKS.add("rays-linf", RaySAttack)
ATTACKS.add("patch", PatchAttack)
ATTACKS.add("laser", LaserBeam)
ATTACKS.add("pgd-linf", lambda **kw: WhiteBox(method="pgd", **kw))
ATTACKS.add("apgd-ce", lambda **kw: WhiteBox(method="apgd-ce", **kw))
ATTACKS.add("apgd-dlr", lambda **kw: WhiteBox(method="apgd-dlr", **kw))

DEFAULT_BUDGETS = {
    "square-linf": 1000,
    "square-l2": 1000,
    "rays-linf": 1000,
    "patch": 1000,
    "laser": 300,
    "pgd-linf": 20,
    "apgd-ce": 50,
    "apgd-dlr": 50,
}


def corruption_entries(
    names: Sequence[str] | None = None,
    severities: Sequence[int] = SEVERITIES,
    assign: str = "cycle",
) -> list[Entry]:
    """One entry per (corruption, severity); with ``cycle`` each image gets one severity per
    corruption, so a corruption costs one pass over the images whatever the severities."""
    chosen = list(names) if names is not None else list(CORRUPTIONS)
    for name in chosen:
        if name not in CORRUPTIONS:
            raise UsageError(unknown_name_message("corruption", name, CORRUPTIONS))
    for level in severities:
        if level not in SEVERITIES:
            raise UsageError(f"corruption severity {level} is not one of 1-5")
    if assign not in ("cycle", "all"):
        raise UsageError(unknown_name_message("corruption assignment", assign, ["all", "cycle"]))
    every = len(severities) if assign == "cycle" else 1
    return [
        Entry(Corruption(name, level), 1, every, k if assign == "cycle" else 0)
        for name in chosen
        for k, level in enumerate(severities)
    ]


def standard_suite() -> Suite:
    """Square L-inf 8/255 and L2 5.0, patch, laser, the 15 corruptions (severities cycled
    over the images), and the white-box attacks when the extra is installed."""
    entries = [
        Entry(SquareLinf(), DEFAULT_BUDGETS["square-linf"]),
        Entry(SquareL2(), DEFAULT_BUDGETS["square-l2"]),
        Entry(PatchAttack(), DEFAULT_BUDGETS["patch"]),
        Entry(LaserBeam(), DEFAULT_BUDGETS["laser"]),
        *corruption_entries(),
        Entry(WhiteBox(method="pgd"), DEFAULT_BUDGETS["pgd-linf"]),
        Entry(WhiteBox(method="apgd-ce"), DEFAULT_BUDGETS["apgd-ce"]),
        Entry(WhiteBox(method="apgd-dlr"), DEFAULT_BUDGETS["apgd-dlr"]),
    ]
    return Suite("standard", tuple(entries))


def quick_suite() -> Suite:
    """A few minutes on a laptop: small budgets, five corruptions, 100 images."""
    entries = [
        Entry(SquareLinf(), 100),
        Entry(PatchAttack(), 100),
        Entry(LaserBeam(), 50),
        *corruption_entries(
            ["gaussian-noise", "defocus-blur", "fog", "contrast", "jpeg-compression"]
        ),
        Entry(WhiteBox(method="apgd-dlr"), 10),
    ]
    return Suite("quick", tuple(entries), max_images=100)


SUITES: Registry[Callable[[], Suite]] = Registry("attack suite")
SUITES.add("standard", standard_suite)
SUITES.add("quick", quick_suite)


def load_suite(spec: str | Path) -> Suite:
    """A built-in suite by name, or a TOML file (anything ending in .toml)."""
    text = str(spec)
    if not text.endswith(".toml"):
        return SUITES.get(text)()
    path = Path(text)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read attack suite {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"attack suite {path} is not valid TOML: {exc}") from None
    return suite_from_mapping(data, default_name=path.stem)


def suite_from_mapping(data: Mapping[str, Any], default_name: str = "custom") -> Suite:
    """Build a suite from TOML-shaped data (see the module docstring)."""
    known = {"name", "seed", "max_images", "attack"}
    for key in data:
        if key not in known:
            raise UsageError(unknown_name_message("attack suite field", key, known))
    entries: list[Entry] = []
    for table in data.get("attack", []):
        entries.extend(_entries(dict(table)))
    if not entries:
        raise UsageError("the attack suite lists no attack ([[attack]] tables)")
    names = [e.attack.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"attack suite has two sets named {duplicates[0]!r}: give one a name")
    max_images = data.get("max_images")
    return Suite(
        str(data.get("name", default_name)),
        tuple(entries),
        int(data.get("seed", 0)),
        int(max_images) if max_images is not None else None,
    )


def _entries(table: dict[str, Any]) -> list[Entry]:
    kind = str(table.pop("kind", ""))
    if kind == "corruptions":
        allowed = {"names", "severities", "assign"}
        _refuse_unknown(kind, table, allowed)
        return corruption_entries(
            table.get("names"), table.get("severities", SEVERITIES), table.get("assign", "cycle")
        )
    if kind not in ATTACKS:
        raise UsageError(unknown_name_message("attack", kind, [*ATTACKS.names(), "corruptions"]))
    factory = ATTACKS.get(kind)
    budget = int(table.pop("budget", DEFAULT_BUDGETS.get(kind, 1000)))
    if budget < 1:
        raise UsageError(f"attack {kind}: budget must be at least 1, got {budget}")
    table.setdefault("name", kind)
    _refuse_unknown(kind, table, _parameters(factory, kind))
    try:
        return [Entry(factory(**table), budget)]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"attack {kind}: {exc}") from None


def _parameters(factory: Factory, kind: str) -> set[str]:
    target: Any = WhiteBox if kind in ("pgd-linf", "apgd-ce", "apgd-dlr") else factory
    names = set(inspect.signature(target).parameters) - {"method", "self"}
    return names


def _refuse_unknown(kind: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise UsageError(unknown_name_message(f"parameter of {kind}", key, allowed))
