"""What checks share: the loaded model, the profile, and lazily computed, cached evidence.

Each expensive thing (graph analysis, the onnxruntime session, sample images, sample outputs)
is computed at most once per model however many checks ask for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from validator.config import Profile
from validator.findings import Finding, Severity, Status
from validator.graph.analysis import GraphAnalysis, MacTally, analyse, macs_at_batch
from validator.graph.platform_rules import PlatformPrediction, predict_platform
from validator.inference import Runner
from validator.loading.model import LoadedModel
from validator.shape_probe import RuntimeShapeProbe
from validator.vocab import CheckId, Device, MacsConvention

if TYPE_CHECKING:
    from validator.data.samples import SampleImages

T = TypeVar("T")
EvidenceObserver = Callable[[str, bool], None]


class Unavailable(Exception):
    """Evidence that cannot be had: computing it broke a limit in an earlier child process
    (``reason`` names the limit). Checks that need it fail with that reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def evidence(fn: Callable[[Context], T]) -> property:
    """A cached property that is expensive evidence: refused when marked unavailable, and
    announced to the observer while it is computed (so a breach can be pinned on it)."""
    name = fn.__name__

    def compute(self: Context) -> T:
        return self.cached(name, lambda: fn(self))

    compute.__name__, compute.__doc__ = name, fn.__doc__
    return property(compute)


@dataclass(frozen=True)
class _Failed:
    """Evidence whose computation raised: the same error is raised to every asker."""

    error: Exception


def _ignore(name: str, started: bool) -> None:
    """The default observer: nobody is watching."""


@dataclass(frozen=True)
class SampleRun:
    """Outputs of the model on the sample images, run as one batch."""

    batched: np.ndarray
    batch_size: int


class Context:
    """Shared state of one validation run."""

    def __init__(
        self,
        model: LoadedModel,
        profile: Profile,
        threads: int | None = None,
        *,
        unavailable: Mapping[str, str] | None = None,
        observe: EvidenceObserver = _ignore,
        device: Device = Device.CPU,
    ) -> None:
        self.model = model
        self.profile = profile
        self.threads = threads
        self.unavailable = dict(unavailable or {})
        self.observe = observe
        self.device = device
        self._extra: dict[str, Any] = {}

    @evidence
    def analysis(self) -> GraphAnalysis:
        """Shapes, multiply-adds and parameters at batch 1."""
        probe = RuntimeShapeProbe(self.model, self.threads)  # used only if static shapes have gaps
        return analyse(self.model.proto, batch=1, size=self.profile.input_size, probe=probe)

    @cached_property
    def platform(self) -> PlatformPrediction:
        """What the organizers' ONNX route (converter + ptflops 0.6.8) makes of this file."""
        macs = self.analysis.macs.total[MacsConvention.PLATFORM]
        return predict_platform(self.analysis.index, macs)

    @cached_property
    def batch_is_symbolic(self) -> bool:
        """True when the (first) input's batch dimension is not a fixed number."""
        if not self.analysis.index.inputs:
            return False
        dims = self.analysis.index.inputs[0].type.tensor_type.shape.dim
        return bool(dims) and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0)

    @evidence
    def macs_batch2(self) -> MacTally | None:
        """Multiply-adds at batch 2 (None for a fixed batch), to check cost scales with N."""
        if not self.batch_is_symbolic:
            return None
        return macs_at_batch(self.analysis, 2)

    @evidence
    def runner(self) -> Runner:
        """The onnxruntime session (raises RuntimeFailure)."""
        return Runner(self.model.path, self.threads, self.device)

    @evidence
    def samples(self) -> SampleImages:
        """A few real images in the profile's preprocessing."""
        from validator.data.samples import sample_images  # Pillow: runtime checks only

        return sample_images(self.profile, count=self.profile.runtime_batch)

    @evidence
    def sample_run(self) -> SampleRun:
        """Outputs on the sample batch, run once (raises RuntimeFailure)."""
        batch = self.samples.tensors
        return SampleRun(self.runner.run(batch), len(batch))

    @cached_property
    def alone_positions(self) -> list[int]:
        """The sample images also run alone: the profile's ``runtime_alone`` of them spread
        evenly over the batch (its first and last included), or every one when it asks for as
        many or the batch is fixed to 1 (raises RuntimeFailure)."""
        count = len(self.samples.tensors)
        wanted = min(self.profile.runtime_alone, count)
        if self.runner.fixed_batch == 1 or wanted >= count:
            return list(range(count))
        if wanted == 1:
            return [0]
        return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})

    @evidence
    def alone_run(self) -> np.ndarray:
        """Outputs on the sample images of ``alone_positions``, each run alone (a batch of one;
        raises RuntimeFailure). With the batch fixed to 1 the sample batch already ran image
        by image: reused."""
        if self.runner.fixed_batch == 1:
            batched: np.ndarray = self.sample_run.batched
            return batched
        tensors = self.samples.tensors
        return np.concatenate([self.runner.run(tensors[i][None]) for i in self.alone_positions])

    @evidence
    def repeated_run(self) -> np.ndarray:
        """Outputs on the sample batch, run a second time (raises RuntimeFailure)."""
        again: np.ndarray = self.runner.run(self.samples.tensors)
        return again

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """Evidence computed once per run outside this class (e.g. the ensemble analysis),
        with the same refusal and announcement as the ``evidence`` properties."""
        if name not in self._extra:
            reason = self.unavailable.get(name)
            if reason is not None:
                raise Unavailable(reason)
            self.observe(name, True)
            try:
                computed: Any = compute()
            except MemoryError:
                raise  # left announced: the breach is pinned on this evidence
            except Exception as exc:  # remembered: every check asking again gets it at once
                computed = _Failed(exc)
            except BaseException:
                self.observe(name, False)
                raise
            self.observe(name, False)
            self._extra[name] = computed
        value = self._extra[name]
        if isinstance(value, _Failed):
            raise value.error
        result: T = value
        return result

    def severity(self, check: CheckId) -> Severity:
        """The profile's severity for ``check``."""
        return self.profile.severity_of(check)

    def verdict(
        self,
        check: CheckId,
        ok: bool,
        message: str,
        measured: Any = None,
        limit: Any = None,
        details: dict[str, Any] | None = None,
    ) -> Finding:
        """A pass, or a failure whose status follows the check's severity (fail or warn)."""
        severity = self.severity(check)
        failed = Status.FAIL if severity is Severity.ERROR else Status.WARN
        status = Status.PASS if ok else failed
        return Finding(check.value, status, severity, message, measured, limit, details or {})

    def finding(
        self, check: CheckId, status: Status, message: str, details: dict[str, Any] | None = None
    ) -> Finding:
        """A finding with an explicit status (skip, error, warn)."""
        return Finding(check.value, status, self.severity(check), message, details=details or {})
