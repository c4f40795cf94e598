"""Isolation: everything that interprets a model runs in a child process under limits.

One mechanism for every front end (check, attack, batch, PyTorch submissions): a child forked
with every module already imported, its own process group, an address-space limit, a wall-time
limit per phase enforced by the parent, and a JSON-only channel back. A breach becomes a value
the caller turns into a failed check; the parent never hangs and stays small.
"""

from __future__ import annotations

from validator.sandbox.channel import Sender
from validator.sandbox.confine import Confinement
from validator.sandbox.limits import Limits, usable_cores
from validator.sandbox.session import Outcome, PhaseClock, run_isolated

__all__ = [
    "Confinement",
    "Limits",
    "Outcome",
    "PhaseClock",
    "Sender",
    "run_isolated",
    "usable_cores",
]
