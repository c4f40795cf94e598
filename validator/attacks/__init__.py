"""Forward-only attacks and corruptions against the model under test, from its ONNX file alone.

Public API::

    from validator.attacks import attack_dataset, run_suite, load_suite
    run = attack_dataset("model.onnx", "data/", "attacked_out/", suite="standard")
    [(s.name, s.accuracy) for s in run.sets], run.findings

Each attack implements :class:`~validator.attacks.base.Attack` (``name``, ``family``, ``params``,
``run(model, images, labels, seeds, budget) -> AttackResult``) over a
:class:`~validator.attacks.model_fn.QueryModel`; suites and attack names live in
:mod:`validator.attacks.suites`.
"""

from __future__ import annotations

from validator.attacks.base import Attack, AttackResult, Family
from validator.attacks.model_fn import OutputKind, QueryModel
from validator.attacks.runner import SetOutcome, SuiteRun, attack_dataset, run_suite
from validator.attacks.suites import ATTACKS, SUITES, Entry, Suite, load_suite

__all__ = [
    "ATTACKS",
    "SUITES",
    "Attack",
    "AttackResult",
    "Entry",
    "Family",
    "OutputKind",
    "QueryModel",
    "SetOutcome",
    "Suite",
    "SuiteRun",
    "attack_dataset",
    "load_suite",
    "run_suite",
]
