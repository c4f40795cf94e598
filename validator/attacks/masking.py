"""Signs that a model masks gradients or scores, so that attacks would overstate its robustness.

Four kinds of evidence, each a :class:`Sign`:

- ``saturated`` / ``temperature``: probability outputs rounded to one-hot in float32, or log-
  probability (or logit) margins far beyond what a trained classifier produces
  (``softmax(10000 * z)`` is the known case);
- ``random``: the same images give different outputs on different runs (attacks then average
  several runs per query: expectation over the randomness);
- ``non-differentiable``: Round, Sign, ArgMax, comparisons, quantize-like casts and similar
  operators on the path from the input to the output, which zero or break gradients;
- ``black-box-stronger``: a black-box attack succeeds more often than white-box attacks at the
  same radius, which only happens when gradients are uninformative.

The findings are warnings (id ``masking``): they never fail a model, they explain its numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from validator.attacks.model_fn import (
    MAX_DRAWS,
    MIN_DRAWS,
    SCORE_DRAWS,
    OutputKind,
    QueryModel,
    saturated_rows,
)
from validator.findings import Finding, Severity, Status
from validator.graph.index import build_index

MASKING_CHECK = "masking"
CONVERTIBLE_CHECK = "convertible"
EOT_DRAWS = MIN_DRAWS  # runs averaged per evaluation of a random model, at least
SATURATED_SHARE = 0.5  # flag when at least this share of clean images give one-hot outputs
LOG_MARGIN_LIMIT = 50.0  # nats between the top two log-probabilities (median over images)
LOGIT_GAP_LIMIT = 1000.0  # same for raw logits
RANDOM_TOLERANCE = 1e-5
SINGLE_REPEATS = 16  # single-image calls in the output probe (see probe_outputs)
BLACKBOX_LEAD = 0.05  # black-box success above white-box success by more than this

NON_DIFFERENTIABLE = frozenset(
    {
        "Round",
        "Sign",
        "Floor",
        "Ceil",
        "ArgMax",
        "ArgMin",
        "Hardmax",
        "TopK",
        "Mod",
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "BitShift",
        "Equal",
        "Greater",
        "Less",
        "GreaterOrEqual",
        "LessOrEqual",
        "Not",
        "And",
        "Or",
        "Xor",
    }
)
RANDOM_OPS = frozenset(
    {
        "RandomUniformLike",
        "RandomNormalLike",
        "RandomUniform",
        "RandomNormal",
        "Bernoulli",
        "Multinomial",
    }
)
_SHAPE_ONLY = frozenset({"Shape", "Size"})  # outputs do not depend on the input's values
_FLOAT_TYPES = frozenset(
    {
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.DOUBLE,
        onnx.TensorProto.FLOAT16,
        onnx.TensorProto.BFLOAT16,
    }
)


class SignKind(str, enum.Enum):
    """What kind of masking evidence was found."""

    SATURATED = "saturated"
    TEMPERATURE = "temperature"
    RANDOM = "random"
    NON_DIFFERENTIABLE = "non-differentiable"
    BLACKBOX_STRONGER = "black-box-stronger"


@dataclass(frozen=True)
class Sign:
    """One piece of masking evidence and what it means for the numbers."""

    kind: SignKind
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputProbe:
    """How the model's outputs behave on the clean images."""

    kind: OutputKind
    saturated_share: float
    median_gap: float  # top-1 minus top-2 on the log scale attacks use
    random: bool
    max_run_difference: float


def probe_outputs(model: QueryModel, images: np.ndarray, runs: int = 3) -> OutputProbe:
    """Query ``images`` ``runs`` times, then the first image alone :data:`SINGLE_REPEATS` times
    (none counted against any attack), and describe the outputs."""
    outputs = [model.raw(images) for _ in range(max(runs, 2))]
    kind = model.kind or OutputKind.LOGITS
    difference = max(float(np.max(np.abs(o - outputs[0]))) for o in outputs[1:])
    if len(images):
        # A defense that draws once per call (a coin choosing between weight sets) gives the
        # same draw to a few batch calls 1 time in 2^(runs - 1); cheap single-image calls make
        # it show but for 1 in 2^(runs + SINGLE_REPEATS - 2) (about 1e-5 for a fair coin).
        alone = [model.raw(images[:1]) for _ in range(SINGLE_REPEATS)]
        difference = max(difference, *(float(np.max(np.abs(o - alone[0]))) for o in alone[1:]))
    scale = max(1.0, float(np.max(np.abs(outputs[0]))))
    scores = np.sort(model.to_scores(outputs[0]), axis=1)  # the outputs as given, not tapped
    gap = float(np.median(scores[:, -1] - scores[:, -2])) if scores.shape[1] > 1 else 0.0
    share = float(np.mean(saturated_rows(outputs[0], kind))) if len(images) else 0.0
    return OutputProbe(kind, share, gap, difference > RANDOM_TOLERANCE * scale, difference)


def output_signs(probe: OutputProbe, tapped: bool = False) -> list[Sign]:
    """Saturation, temperature and randomness signs from an :class:`OutputProbe`; ``tapped``
    says the attacks read the logits before the final Softmax."""
    signs: list[Sign] = []
    tap = "score-based attacks read the logits before the final Softmax"
    remedy = (
        tap
        if tapped
        else "score-based attacks switch to RayS on the images whose outputs are one-hot "
        "(decision-based, weaker at the same budget; the set's manifest names the method "
        "used per image)"
    )
    as_is = (
        tap
        if tapped
        else "score-based attacks use the margin as it is (a temperature or a boost of the "
        "top class does not change which candidate lowers it)"
    )
    if probe.saturated_share >= SATURATED_SHARE:
        signs.append(
            Sign(
                SignKind.SATURATED,
                f"outputs are one-hot probabilities on {probe.saturated_share:.0%} of clean images "
                f"(scores carry no signal); {remedy}",
                {"saturated_share": round(probe.saturated_share, 4)},
            )
        )
    limit = LOG_MARGIN_LIMIT if probe.kind is OutputKind.PROBABILITIES else LOGIT_GAP_LIMIT
    if probe.median_gap > limit and probe.saturated_share < SATURATED_SHARE:
        what = "log-probability" if probe.kind is OutputKind.PROBABILITIES else "logit"
        signs.append(
            Sign(
                SignKind.TEMPERATURE,
                f"median {what} gap between the top two classes is {probe.median_gap:.3g} "
                f"(> {limit:g}): outputs look temperature-scaled; {as_is}",
                {"median_gap": round(probe.median_gap, 4), "limit": limit},
            )
        )
    if probe.random:
        signs.append(
            Sign(
                SignKind.RANDOM,
                "outputs differ between runs on the same images (up to "
                f"{probe.max_run_difference:.3g}): the model is randomized; each attack "
                f"iteration averages {EOT_DRAWS} to {MAX_DRAWS} runs per image (more while the "
                "margin's standard error is large), budgets count iterations, and attacked "
                f"images are scored over {SCORE_DRAWS} separate runs (expectation; worst case "
                "beside it)",
                {
                    "max_difference": probe.max_run_difference,
                    "draws": EOT_DRAWS,
                    "max_draws": MAX_DRAWS,
                    "score_draws": SCORE_DRAWS,
                },
            )
        )
    return signs


def input_path_ops(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(node name, op type) of non-differentiable or random operators whose output depends on
    the values of the graph input and reaches the graph output."""
    index = build_index(model.graph)
    nodes = list(model.graph.node)
    tainted = {i.name for i in index.inputs}
    on_path: set[int] = set()
    for position in index.order:
        node = nodes[position]
        if node.op_type in _SHAPE_ONLY or not any(n in tainted for n in node.input if n):
            continue
        on_path.add(position)
        tainted.update(n for n in node.output if n)
    reaching = _reaching_output(model.graph, index.producer, nodes)
    found = []
    for position in sorted(on_path & reaching):
        node = nodes[position]
        if node.op_type in NON_DIFFERENTIABLE or node.op_type in RANDOM_OPS or _integer_cast(node):
            found.append((index.node_name(position), node.op_type))
    return found


def _integer_cast(node: onnx.NodeProto) -> bool:
    if node.op_type != "Cast":
        return False
    target = next((a.i for a in node.attribute if a.name == "to"), onnx.TensorProto.FLOAT)
    return target not in _FLOAT_TYPES


def _reaching_output(
    graph: onnx.GraphProto, producer: Mapping[str, int], nodes: Sequence[onnx.NodeProto]
) -> set[int]:
    stack = [producer[o.name] for o in graph.output if o.name in producer]
    seen: set[int] = set()
    while stack:
        position = stack.pop()
        if position in seen:
            continue
        seen.add(position)
        stack.extend(producer[n] for n in nodes[position].input if n in producer)
    return seen


def random_sources(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """(node name, op type) of random operators whose output reaches the graph output, on the
    input path or not (a coin choosing between two weight sets reads no input)."""
    index = build_index(model.graph)
    nodes = list(model.graph.node)
    reaching = _reaching_output(model.graph, index.producer, nodes)
    return [
        (index.node_name(p), nodes[p].op_type)
        for p in sorted(reaching)
        if nodes[p].op_type in RANDOM_OPS
    ]


def unseen_random_sign(found: Sequence[tuple[str, str]]) -> Sign:
    """The ``random`` sign for a model whose probe runs happened to agree although random
    operators reach its output: it is attacked and scored as randomized all the same."""
    listed = ", ".join(f"{op} ({name})" for name, op in found[:5])
    return Sign(
        SignKind.RANDOM,
        f"random operators reach the output ({listed}) although the probe runs agreed: the "
        f"model is treated as randomized (each attack iteration averages {EOT_DRAWS} to "
        f"{MAX_DRAWS} runs per image; attacked images are scored over {SCORE_DRAWS} runs)",
        {"nodes": [{"name": n, "op": op} for n, op in found], "draws": EOT_DRAWS},
    )


def graph_signs(model: onnx.ModelProto) -> list[Sign]:
    """The non-differentiable / random operator sign, if any."""
    found = input_path_ops(model)
    if not found:
        return []
    listed = ", ".join(f"{op} ({name})" for name, op in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return [
        Sign(
            SignKind.NON_DIFFERENTIABLE,
            f"non-differentiable or random operators on the input path: {listed}{more}; "
            "gradient-based attacks may be blind",
            {"nodes": [{"name": n, "op": op} for n, op in found]},
        )
    ]


def comparison_signs(rates: Iterable[tuple[str, str, float, float]]) -> list[Sign]:
    """``black-box-stronger`` from (set name, family, L-inf eps, success rate) tuples."""
    rows = list(rates)
    black = [(n, e, r) for n, f, e, r in rows if f == "adversarial"]
    white = [(n, e, r) for n, f, e, r in rows if f == "white-box"]
    signs: list[Sign] = []
    for w_name, w_eps, w_rate in white:
        for b_name, b_eps, b_rate in black:
            if abs(b_eps - w_eps) < 1e-9 and b_rate > w_rate + BLACKBOX_LEAD:
                signs.append(
                    Sign(
                        SignKind.BLACKBOX_STRONGER,
                        f"black-box {b_name} succeeds on {b_rate:.0%} but white-box {w_name} "
                        f"on only {w_rate:.0%} at the same radius: gradients look masked",
                        {
                            "black_box": b_name,
                            "white_box": w_name,
                            "black_rate": b_rate,
                            "white_rate": w_rate,
                        },
                    )
                )
    return signs


UPPER_BOUND = (
    "attacked accuracy and final score are upper bounds under the attacks run (masking "
    "evidence remains)"
)


def masking_finding(signs: Sequence[Sign], error: bool = False) -> Finding:
    """The ``masking`` warning (or a pass when there is no sign); with ``error`` (the
    profile's ``masking = "error"``) any sign fails the model instead."""
    if not signs:
        return Finding(
            MASKING_CHECK, Status.PASS, Severity.WARNING, "no sign of gradient or score masking"
        )
    message = f"{UPPER_BOUND}: " + "; ".join(s.message for s in signs)
    details = {
        "signs": [{"kind": s.kind.value, "message": s.message, **s.details} for s in signs],
        "upper_bound": True,
    }
    status, severity = (Status.FAIL, Severity.ERROR) if error else (Status.WARN, Severity.WARNING)
    return Finding(MASKING_CHECK, status, severity, message, len(signs), None, details)


def convertible_finding(
    reason: str | None, skipped: bool = False, passed: str | None = None
) -> Finding:
    """The ``convertible`` warning: pass (with ``passed`` as its message when given), warn with
    the reason, or skip (torch not installed)."""
    if skipped:
        return Finding(CONVERTIBLE_CHECK, Status.SKIP, Severity.WARNING, reason or "not run")
    if reason is None:
        return Finding(
            CONVERTIBLE_CHECK,
            Status.PASS,
            Severity.WARNING,
            passed or "the PyTorch conversion agrees with onnxruntime",
        )
    return Finding(CONVERTIBLE_CHECK, Status.WARN, Severity.WARNING, reason)
