"""The check registry: every rule is a function registered with its id and the stage it needs."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from validator.registry import Registry
from validator.vocab import CheckId

if TYPE_CHECKING:
    from validator.checks.context import Context
    from validator.findings import Finding


class Stage(str, enum.Enum):
    """What a check needs before it can run; later stages cost more."""

    STATIC = "static"  # the parsed graph and its analysis
    RUNTIME = "runtime"  # an onnxruntime session and sample images


CheckFn = Callable[["Context"], "Finding"]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its stable id, a one-line title, its stage and its function."""

    id: CheckId
    title: str
    stage: Stage
    run: CheckFn


CHECKS: Registry[CheckSpec] = Registry("check")


def register(check_id: CheckId, title: str, stage: Stage) -> Callable[[CheckFn], CheckFn]:
    """Decorator: register ``fn`` as the check ``check_id``."""

    def wrap(fn: CheckFn) -> CheckFn:
        CHECKS.add(check_id.value, CheckSpec(check_id, title, stage, fn))
        return fn

    return wrap
