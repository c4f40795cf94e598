"""The model as attacks see it: 8-bit RGB levels in, log-scores out, every query counted.

A model may return logits, log-probabilities or probabilities. Margin losses need scores on a
log scale, so probabilities (rows non-negative and summing to 1) are replaced by their logarithm:
``softmax(T * z)`` then gives back ``T * z`` up to a constant and a temperature cannot shrink the
margin. When float32 has rounded every other class to exactly zero (a one-hot output), no such
signal is left: :meth:`QueryModel.saturated` says so per image and the attacks switch to a
decision-based search instead of reporting the model as robust.

A model whose outputs change from run to run (``random``) is queried several times per
evaluation and the average taken (expectation over its randomness). An attack's budget counts
evaluations, not runs: a random model gets as many search iterations as a deterministic one.
When the labels are known (:meth:`QueryModel.margin_query`) the number of runs adapts per image:
at least ``draws``, doubled for the images whose margin's standard error is still large against
the changes a search step must tell apart, up to ``max_draws``. ``passes`` counts every run.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from validator.vocab import ChannelOrder

Forward = Callable[[np.ndarray], np.ndarray]
Tapped = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
"""A batch of model inputs (N x 3 x H x W float32 in [0, 1], the model's channel order) to the
model's first output (N x classes)."""

_TINY = float(np.finfo(np.float32).tiny)  # below this a float32 probability is zero or denormal
_LOG_FLOOR = -1e4  # log of an exact zero: finite, far below any real log-probability
SCORE_DRAWS = 32  # separate runs per image when scoring a random model's attacked images
MIN_DRAWS = 8  # runs per evaluation of a random model, at least
MAX_DRAWS = 64  # and at most (the bound on the cost of one evaluation)
SE_FRACTION = 0.1  # target: the margin's standard error <= this share of |margin| ...
SE_FLOOR = 0.05  # ... or of this share of the clean margin scale, whichever is larger


def _margins(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    rows = np.arange(len(labels))
    other = scores.copy()
    other[rows, labels] = -np.inf
    return np.asarray(scores[rows, labels] - other.max(axis=1), dtype=np.float64)


class OutputKind(str, enum.Enum):
    """What the model's output rows are."""

    LOGITS = "logits"
    PROBABILITIES = "probabilities"


def classify_outputs(outputs: np.ndarray, tolerance: float = 1e-3) -> OutputKind:
    """``probabilities`` when every row is non-negative and sums to 1 within ``tolerance``."""
    rows = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if rows.size and np.all(rows >= 0) and np.all(np.abs(rows.sum(axis=1) - 1.0) <= tolerance):
        return OutputKind.PROBABILITIES
    return OutputKind.LOGITS


def saturated_rows(outputs: np.ndarray, kind: OutputKind) -> np.ndarray:
    """True for rows that carry no margin signal: every class but the top one has exactly the
    same score (a one-hot output in any scale), or, for probabilities, every other class is zero
    or denormal in float32."""
    rows = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if rows.shape[1] < 2:
        return np.zeros(len(rows), dtype=bool)
    ordered = np.sort(rows, axis=1)
    flat = (ordered[:, -2] == ordered[:, 0]) & (ordered[:, -1] > ordered[:, -2])
    if kind is OutputKind.PROBABILITIES:
        flat |= ordered[:, -2] < _TINY
    return np.asarray(flat)


def to_input(levels: np.ndarray, order: ChannelOrder) -> np.ndarray:
    """8-bit RGB levels to the model's tensor, bit-for-bit as the image loader makes it."""
    source = levels[:, ::-1] if order is ChannelOrder.BGR else levels
    out = np.empty(levels.shape, dtype=np.float32)
    np.divide(source, np.float32(255.0), out=out, dtype=np.float32)  # one pass, as the loader
    return out


class QueryModel:
    """Counts queries, batches them, and turns outputs into log-scale scores.

    ``kind`` is fixed on the first call (or given) so that every later query is read the same
    way; ``draws`` > 1 averages that many runs per evaluation (for random models). ``tapped``,
    when given, replaces ``forward`` and also returns the logits before a terminal Softmax
    (see :mod:`validator.attacks.tap`): decisions still come from the model's own output.
    """

    def __init__(
        self,
        forward: Forward,
        order: ChannelOrder = ChannelOrder.BGR,
        *,
        batch_size: int = 32,
        draws: int = 1,
        kind: OutputKind | None = None,
        source: Path | None = None,
        tapped: Tapped | None = None,
    ) -> None:
        self.forward, self.tapped = forward, tapped
        self.source = source  # the ONNX file, for attacks that need more than outputs
        self.cache: dict[str, Any] = {}  # per-model state attacks share (e.g. a conversion)
        self.order = order
        self.batch_size = max(1, batch_size)
        self.draws = max(1, draws)
        self.max_draws = max(self.draws, MAX_DRAWS)
        self.random = self.draws > 1
        self.margin_scale = 1.0  # typical |clean margin| (set by the masking probe)
        self.kind = kind
        self.queries = 0  # model runs, one per image per draw
        self.last_draws = np.zeros(0, dtype=np.int64)  # runs per image of the last evaluation

    def make_random(self, draws: int = MIN_DRAWS, max_draws: int = MAX_DRAWS) -> None:
        """Treat the model as random: evaluations average ``draws`` .. ``max_draws`` runs."""
        self.random, self.draws, self.max_draws = True, max(1, draws), max(draws, max_draws)

    def encode(self, levels: np.ndarray) -> np.ndarray:
        """The model's input tensor for ``levels`` (see :func:`to_input`)."""
        return to_input(levels, self.order)

    def query(self, levels: np.ndarray, *, encoded: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(raw outputs, log-scale scores), both N x classes float64, averaged over ``draws``
        (probabilities are averaged as probabilities, logits as logits). With ``encoded`` the
        array is already the model's input (from :meth:`encode`), not levels."""
        raw: np.ndarray | None = None
        taps: np.ndarray | None = None
        for _ in range(self.draws):
            out, tap = self._once(levels, encoded)
            raw = out if raw is None else raw + out
            if tap is not None:
                taps = tap if taps is None else taps + tap
        assert raw is not None
        self.last_draws = np.full(len(levels), self.draws, dtype=np.int64)
        raw = raw / self.draws
        if taps is not None:
            return raw, taps / self.draws
        return raw, self.to_scores(raw)

    def margin_query(
        self, levels: np.ndarray, labels: np.ndarray, *, encoded: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(raw outputs, scores) averaged over as many runs per image as its margin needs (see
        the module docstring); ``last_draws`` holds the runs each image took."""
        if not self.random:
            return self.query(levels, encoded=encoded)
        rows = np.arange(len(levels))
        raw_sum: np.ndarray | None = None
        score_sum = np.zeros(0)
        samples: list[np.ndarray] = []  # margins per run, (rows still drawing) each
        count = np.zeros(len(levels), dtype=np.int64)
        batch, tapped = self.draws, False
        while len(rows):
            chunk = levels[rows]
            for _ in range(batch):
                raw, tap = self._once(chunk, encoded)
                tapped = tap is not None
                z = tap if tap is not None else self.to_scores(raw)
                if raw_sum is None:
                    raw_sum, score_sum = (
                        np.zeros((len(levels), raw.shape[1])),
                        np.zeros((len(levels), z.shape[1])),
                    )
                raw_sum[rows] += raw
                score_sum[rows] += z
                samples.append(_margins(z, labels[rows]))
            count[rows] += batch
            keep = self._unsettled(np.array(samples), int(count[rows[0]]))
            rows, samples = rows[keep], [m[keep] for m in samples]
            batch = int(count[rows[0]]) if len(rows) else 0
        assert raw_sum is not None
        self.last_draws = count
        raw = raw_sum / count[:, None]
        if self.kind is OutputKind.PROBABILITIES and not tapped:
            return raw, self.to_scores(raw)  # the expectation of the probabilities
        return raw, score_sum / count[:, None]

    def _unsettled(self, samples: np.ndarray, used: int) -> np.ndarray:
        """Rows whose mean margin is not yet known well enough, and that may double their runs
        (``samples``: runs x rows)."""
        if used * 2 > self.max_draws:
            return np.zeros(samples.shape[1], dtype=bool)
        mean = samples.mean(axis=0)
        se = samples.std(axis=0, ddof=1) / np.sqrt(used)
        target = SE_FRACTION * np.maximum(np.abs(mean), SE_FLOOR * self.margin_scale)
        return np.asarray(se > target)

    def correct_draws(self, levels: np.ndarray, labels: np.ndarray, draws: int) -> np.ndarray:
        """``draws`` x N: whether each separate run of the model classifies each image right
        (no averaging: the scoring of a random model, see :data:`SCORE_DRAWS`)."""
        return np.stack(
            [np.argmax(self._once(levels, False)[0], axis=1) == labels for _ in range(draws)]
        )

    def raw(self, levels: np.ndarray) -> np.ndarray:
        """The model's own outputs (see :meth:`query`)."""
        return self.query(levels)[0]

    def scores(self, levels: np.ndarray) -> np.ndarray:
        """Log-scale class scores: pre-softmax logits when tapped, else logits as they are and
        probabilities as log-probabilities (an exact zero becomes a large negative number)."""
        return self.query(levels)[1]

    def to_scores(self, outputs: np.ndarray) -> np.ndarray:
        """Log-scale scores from raw outputs (see :meth:`scores`)."""
        if self.kind is OutputKind.PROBABILITIES:
            with np.errstate(divide="ignore"):
                logs = np.log(np.maximum(outputs, 0.0))
            return np.asarray(np.maximum(logs, _LOG_FLOOR))
        return outputs

    def predict(self, levels: np.ndarray) -> np.ndarray:
        """The model's top class per image (ties resolve to the lowest index, like argmax)."""
        return np.asarray(np.argmax(self.raw(levels), axis=1))

    def saturated(self, outputs: np.ndarray) -> np.ndarray:
        """Per row of raw outputs: True when the scores carry no margin signal (never when the
        pre-softmax logits are tapped)."""
        if self.tapped is not None:
            return np.zeros(len(outputs), dtype=bool)
        return saturated_rows(outputs, self.kind or OutputKind.LOGITS)

    def _once(self, levels: np.ndarray, encoded: bool) -> tuple[np.ndarray, np.ndarray | None]:
        outs: list[np.ndarray] = []
        taps: list[np.ndarray] = []
        for start in range(0, len(levels), self.batch_size):
            chunk = levels[start : start + self.batch_size]
            batch = chunk if encoded else to_input(chunk, self.order)
            if self.tapped is not None:
                out, tap = self.tapped(batch)
                if tap is None:  # the tapped tensor does not fit: read the outputs from now on
                    self.tapped, taps = None, []
                else:
                    taps.append(np.asarray(tap, dtype=np.float64).reshape(len(batch), -1))
            else:
                out = self.forward(batch)
            outs.append(np.asarray(out, dtype=np.float64).reshape(len(batch), -1))
        outputs = np.concatenate(outs) if outs else np.zeros((0, 0))
        if self.kind is None and len(outputs):
            self.kind = classify_outputs(outputs)
        self.queries += len(levels)
        usable = taps and self.tapped is not None
        return outputs, (np.concatenate(taps) if usable else None)
