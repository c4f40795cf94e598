"""Attacks by name, and suites: which attacks run, with which budgets, on which images.

A suite is ``standard``, ``quick``, or a TOML file::

    name = "mine"            # optional; default the file's stem
    seed = 0                 # base of every per-image seed
    max_images = 200         # optional: attack only the first N clean images
    batch = 128              # optional: images attacked together, and the most images per
                             # model call (default 64 on the CPU, 256 on CUDA); no effect on
                             # the results, only on speed and memory
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
from validator.attacks.square import SquareLinf
from validator.attacks.square_l2 import SquareL2
from validator.attacks.whitebox import WhiteBox
from validator.errors import UsageError
from validator.registry import Registry, unknown_name_message
from validator.schema import (
    Choice,
    Float,
    Int,
    Invalid,
    ListOf,
    Name,
    Rule,
    Schema,
    Tagged,
    Text,
    load_toml,
)
from validator.schema import check as check_schema


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
    batch: int | None = None  # images attacked together (None: the device's default)

    def to_dict(self) -> dict[str, Any]:
        """The suite as the manifest records it."""
        return {
            "name": self.name,
            "seed": self.seed,
            "max_images": self.max_images,
            "sets": [e.attack.name for e in self.entries],
        }


MAX_BATCH = 4096  # a suite's ``batch`` at most (memory: a few arrays of batch x 3 x H x W)

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


class _Span:
    """A ``[low, high]`` pair of fractions with low <= high (the laser's search ranges)."""

    pair = ListOf(Float(0.0, 1.0), max_len=2, min_len=2)

    def __call__(self, value: Any) -> tuple[float, float]:
        low, high = self.pair(value)
        if low > high:
            raise Invalid(f"needs [low, high] with low <= high, got {value!r}")
        return low, high


_EPS_LINF = Float(0.0, 1.0)  # in [0, 1] pixel units (8/255 = 0.0314)
_FRACTION = Float(0.0, 1.0)
_PERIOD = Int(1, 1_000_000)
_WHITEBOX = {"eps": _EPS_LINF}
# The parameters each attack accepts (besides kind, budget and name), with their ranges.
ATTACK_PARAMETERS: Mapping[str, Mapping[str, Rule]] = {
    "square-linf": {"eps": _EPS_LINF, "p_init": _FRACTION},
    "square-l2": {"eps": Float(0.0, 1000.0), "p_init": _FRACTION},
    "rays-linf": {"eps": _EPS_LINF},
    "patch": {"size": Float(0.01, 1.0), "move_every": _PERIOD, "p_init": _FRACTION},
    "laser": {
        "width": _Span(),
        "intensity": _Span(),
        "restart_every": _PERIOD,
        "beams": Int(1, 1024),
    },
    "pgd-linf": _WHITEBOX,
    "apgd-ce": _WHITEBOX,
    "apgd-dlr": _WHITEBOX,
}
_CORRUPTIONS = Schema(
    "parameter of corruptions",
    {
        "names": ListOf(Choice("corruption", tuple(CORRUPTIONS)), max_len=len(CORRUPTIONS)),
        "severities": ListOf(Int(min(SEVERITIES), max(SEVERITIES)), max_len=len(SEVERITIES)),
        "assign": Choice("corruption assignment", ("all", "cycle")),
    },
)


def _attack_schema(kind: str) -> Schema:
    # ``name`` becomes the folder attacked/<name>/, so it must be a plain name.
    common: dict[str, Rule] = {"budget": Int(1, 10_000_000), "name": Name()}
    return Schema(f"parameter of {kind}", {**common, **ATTACK_PARAMETERS[kind]})


def suite_schema() -> Schema:
    """What a suite TOML may hold (see the module docstring)."""
    variants = {kind: _attack_schema(kind) for kind in ATTACKS.names()}
    attack = Tagged("kind", {**variants, "corruptions": _CORRUPTIONS})
    rules: dict[str, Rule] = {
        "name": Text(100),
        "seed": Int(0, 2**63 - 1),
        "max_images": Int(1, 10**9),
        "batch": Int(1, MAX_BATCH),
        "attack": ListOf(attack, max_len=1000),
    }
    return Schema("attack suite field", rules)


def load_suite(spec: str | Path) -> Suite:
    """A built-in suite by name, or a TOML file (anything ending in .toml)."""
    text = str(spec)
    if not text.endswith(".toml"):
        return SUITES.get(text)()
    path = Path(text)
    return _build(load_toml(path, "attack suite", suite_schema()), path.stem)


def suite_from_mapping(
    data: Mapping[str, Any], default_name: str = "custom", source: str = "attack suite"
) -> Suite:
    """Build a suite from TOML-shaped data (see the module docstring); UsageError naming
    ``source`` and the key for anything the schema refuses."""
    return _build(check_schema(dict(data), suite_schema(), source), default_name)


def _build(checked: dict[str, Any], default_name: str) -> Suite:
    entries: list[Entry] = []
    for table in checked.get("attack", ()):
        entries.extend(_entries(dict(table)))
    if not entries:
        raise UsageError("the attack suite lists no attack ([[attack]] tables)")
    names = [e.attack.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"attack suite has two sets named {duplicates[0]!r}: give one a name")
    return Suite(
        checked.get("name", default_name),
        tuple(entries),
        checked.get("seed", 0),
        checked.get("max_images"),
        checked.get("batch"),
    )


def _entries(table: dict[str, Any]) -> list[Entry]:
    """The entries of one checked ``[[attack]]`` table."""
    kind = table.pop("kind")
    if kind == "corruptions":
        return corruption_entries(
            table.get("names"), table.get("severities", SEVERITIES), table.get("assign", "cycle")
        )
    budget = table.pop("budget", DEFAULT_BUDGETS.get(kind, 1000))
    table.setdefault("name", kind)
    try:
        return [Entry(ATTACKS.get(kind)(**table), budget)]
    except (TypeError, ValueError) as exc:
        raise UsageError(f"attack {kind}: {exc}") from None
