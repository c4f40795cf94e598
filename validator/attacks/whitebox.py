"""White-box attacks (PGD, APGD with CE or DLR loss) through a PyTorch rendering of the ONNX
graph, as the organizers attacked submissions. Optional: needs ``robust-validate[whitebox]``.

torch is imported only inside these functions. Without it, or when the graph does not convert
faithfully (outputs disagree with onnxruntime), :class:`Unavailable` says why and the set is
skipped; the ``convertible`` warning reports the conversion. A PyTorch submission attacked by
``robust-validate attack`` puts its own module in ``QueryModel.cache["module"]`` (see
:mod:`validator.submission.remote_module`): gradients then come from that module instead.

A terminal Softmax is looked through before differentiating (its argmax is the same, and a saturated
softmax has zero gradient: the masking the organizers' attack fell for); the result of every
attack is rounded to the 8-bit grid and judged by onnxruntime, not by the PyTorch rendering.
Cross-entropy is taken on the logits as they are unless their spread per image exceeds
:data:`SPREAD_CAP` (no trained classifier's does; ``10000 * z`` does): then they are scaled down
to that spread, so a temperature inside the graph cannot zero the gradient, while ordinary
models are attacked exactly as the reference implementations attack them. DLR is scale-free.

Random layers (noise, random resize-and-pad, random crops) are drawn anew on every call of the
PyTorch rendering: each step averages the gradient over an adaptive number of draws per image
(expectation over transformation, EOT; the rule is in :mod:`validator.attacks.eot`). Round,
Floor, Ceil, Sign, casts to integers and ArgMax quantisers (:mod:`.torch_quantisers`) pass the
gradient straight through (BPDA), so quantising input layers do not blind the attacks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from validator.attacks.base import LEVELS, AttackResult, Family, eps_levels
from validator.attacks.eot import Grad, loss_and_grad
from validator.attacks.model_fn import OutputKind, QueryModel, to_input
from validator.attacks.tap import softmax_input

EXTRA_HINT = "install robust-validate[whitebox] (PyTorch) to run white-box attacks"
METHODS = ("pgd", "apgd-ce", "apgd-dlr")
SPREAD_CAP = 50.0  # max - min logit per image beyond which CE sees scaled-down logits
PGD_STEP = 0.25  # PGD step as a share of eps (torchattacks' 2/255 at 8/255)
CONVERTED = "converted graph"  # where the gradients come from, as manifests name it
MODULE = "submitted PyTorch module"


class Unavailable(Exception):
    """A white-box attack cannot run here; ``reason`` is one line, ``convertible`` is False
    when the model itself did not convert (as opposed to torch being absent)."""

    def __init__(self, reason: str, convertible: bool | None = None) -> None:
        super().__init__(reason)
        self.reason, self.convertible = reason, convertible


@dataclass(frozen=True)
class Conversion:
    """A converted model and how well it agrees with onnxruntime on the sample it was tried on."""

    module: Any
    logits: str | None  # the tensor before a terminal Softmax, attacked instead of the output
    max_difference: float
    agreement: float  # fraction of images with the same top class
    source: str = CONVERTED  # CONVERTED, or MODULE for a PyTorch submission's own module
    note: str | None = None  # the ``convertible`` finding's message when source is MODULE


def load_torch() -> Any:
    """The torch module, or Unavailable with the install hint."""
    try:
        import torch
    except ImportError:
        raise Unavailable(EXTRA_HINT) from None
    return torch


def convert(model: QueryModel, sample: np.ndarray, tolerance: float = 1e-3) -> Conversion:
    """Convert ``model.source`` (once per model) and compare it with onnxruntime on ``sample``
    (levels). Raises Unavailable when torch is missing or the conversion disagrees."""
    if "conversion" in model.cache:
        cached = model.cache["conversion"]
        if isinstance(cached, Unavailable):
            raise cached
        return cached  # type: ignore[no-any-return]
    if "module" in model.cache:  # a PyTorch submission: its own module, no conversion
        model.cache["conversion"] = model.cache["module"].convert(model, sample)
        return model.cache["conversion"]  # type: ignore[no-any-return]
    try:
        result = _convert(model, sample, tolerance)
    except Unavailable as exc:
        if exc.convertible is not None:
            model.cache["conversion"] = exc
        raise
    model.cache["conversion"] = result
    return result


def _convert(model: QueryModel, sample: np.ndarray, tolerance: float) -> Conversion:
    torch = load_torch()
    from validator.attacks.torch_graph import NotConvertible, TorchGraph

    if model.source is None:
        raise Unavailable("white-box attacks need the model file", convertible=False)
    proto = onnx.load(str(model.source))
    logits = softmax_input(proto.graph)
    try:
        module = TorchGraph(proto, torch)
        if model.random:  # compared with its draws fixed, not by this run
            return _random_agreement(torch, proto, module, logits, model, sample, tolerance)
        with torch.no_grad():
            ours = module(torch.from_numpy(to_input(sample, model.order))).double().numpy()
    except NotConvertible as exc:
        raise Unavailable(
            f"the model does not convert to PyTorch: {exc}", convertible=False
        ) from None
    reference = model.raw(sample)
    compare = ours
    difference = (
        float(np.max(np.abs(compare - reference))) if compare.shape == reference.shape else math.inf
    )
    agreement = (
        float(np.mean(np.argmax(ours, 1) == np.argmax(reference, 1)))
        if np.isfinite(difference)
        else 0.0
    )
    scale = max(1.0, float(np.max(np.abs(reference))))
    if not difference <= tolerance * scale or agreement < 1.0:
        raise Unavailable(
            f"the PyTorch conversion disagrees with onnxruntime (max difference {difference:.3g}, "
            f"same top class on {agreement:.0%} of {len(sample)} images)",
            convertible=False,
        )
    return Conversion(module, logits, difference, agreement)


def _random_agreement(
    torch: Any, proto: onnx.ModelProto, module: Any, logits: str | None, model: QueryModel,
    sample: np.ndarray, tolerance: float,
) -> Conversion:  # fmt: skip
    """A random model cannot match run for run: both runtimes run the model with every draw
    fixed at its mean (:mod:`validator.attacks.derandomise`) and must agree value for value;
    the attacks then use the rendering of the model as it is, draws included."""
    from validator.attacks.derandomise import derandomised
    from validator.attacks.torch_graph import TorchGraph

    fixed = derandomised(proto)
    if fixed is None:
        raise Unavailable(
            "a random operator of this model has no deterministic stand-in to check its "
            "PyTorch conversion with (Multinomial, or a non-float draw)",
            convertible=False,
        )
    inputs = to_input(sample, model.order)
    with torch.no_grad():  # NotConvertible reaches _convert, which says so
        ours = TorchGraph(fixed, torch)(torch.from_numpy(inputs)).double().numpy()
    theirs = _onnxruntime_outputs(fixed, inputs)
    ours = ours.reshape(len(sample), -1)
    difference = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else math.inf
    scale = max(1.0, float(np.max(np.abs(theirs))))
    if not difference <= tolerance * scale:
        raise Unavailable(
            f"the PyTorch conversion of this random model, every draw fixed at its mean, "
            f"disagrees with onnxruntime (max difference {difference:.3g})",
            convertible=False,
        )
    agreement = float(np.mean(np.argmax(ours, 1) == np.argmax(theirs, 1)))
    return Conversion(module, logits, difference, agreement)


def _onnxruntime_outputs(model: onnx.ModelProto, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a few images once: not worth a thread pool
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    out = session.run([model.graph.output[0].name], {name: inputs})[0]
    return np.asarray(out, dtype=np.float64).reshape(len(inputs), -1)


class WhiteBox:
    """PGD or APGD (CE or DLR loss) in an L-infinity ball of radius ``eps`` (default 8/255);
    the budget is the number of gradient steps."""

    family = Family.WHITEBOX

    def __init__(self, name: str | None = None, method: str = "pgd", eps: float = 8 / 255) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown white-box method {method!r} (known: {', '.join(METHODS)})")
        self.method, self.eps = method, float(eps)
        self.name = name or {"pgd": "pgd-linf"}.get(method, method)

    @property
    def params(self) -> Mapping[str, Any]:
        """Method, loss, norm and radius."""
        loss = "dlr" if self.method == "apgd-dlr" else "ce"
        return {"method": self.method, "loss": loss, "norm": "linf", "eps": self.eps}

    def run(
        self,
        model: QueryModel,
        images: np.ndarray,
        labels: np.ndarray,
        seeds: Sequence[int],
        budget: int,
    ) -> AttackResult:
        """Attack through the converted graph; success is judged by onnxruntime."""
        conversion = convert(model, images)
        torch = load_torch()
        e = eps_levels(self.eps)
        start = np.stack(
            [np.random.default_rng(int(s)).uniform(-1, 1, images.shape[1:]) for s in seeds]
        )
        steps = max(int(budget), 1)
        with torch.enable_grad():
            loss = _dlr_loss if self.method == "apgd-dlr" else _ce_loss
            grad = Grad(_logit_fn(torch, conversion, model), loss, random=model.random)
            x = torch.from_numpy(images.astype(np.float64) / LEVELS)
            y = torch.from_numpy(labels.astype(np.int64))
            eps = e / LEVELS
            x0 = torch.clamp(x + eps * torch.from_numpy(start), 0, 1)
            attack = _pgd if self.method == "pgd" else _apgd
            adv = attack(torch, grad, x, y, x0, eps, steps)
        levels = np.rint(adv.detach().numpy() * LEVELS)
        levels = np.clip(levels, np.maximum(images - e, 0), np.minimum(images + e, LEVELS)).astype(
            np.float32
        )
        success = np.asarray(model.predict(levels) != labels)
        mean_draws, total_draws = grad.per_image(len(images))
        queries = total_draws + model.draws  # gradient draws, then the judging run(s)
        extra: dict[str, list[Any]] = {
            "method": [_method(self.method, model.random, grad.blind)] * len(images),
            "eot_draws": [round(float(d), 2) for d in mean_draws],  # per gradient, mean
        }
        return AttackResult(levels, queries.astype(np.int64), success, extra)


def _method(method: str, random: bool, blind: bool) -> str:
    """The method as run: ``+eot`` for a random model, ``+no-gradient`` when no gradient
    reached the input (the attack stayed at its random start)."""
    return f"{method}{'+eot' if random else ''}{'+no-gradient' if blind else ''}"


def _logit_fn(torch: Any, conversion: Conversion, model: QueryModel) -> Any:
    flip = model.order.value == "bgr"

    def logits(x: Any) -> Any:
        inputs = x.flip(1) if flip else x
        out = conversion.module(inputs.float(), conversion.logits).double()
        out = out.reshape(len(x), -1)
        if model.kind is OutputKind.PROBABILITIES and conversion.logits is None:
            out = torch.log(torch.clamp(out, min=1e-30))
        return out

    return logits


def _ce_loss(torch: Any, z: Any, y: Any) -> Any:
    """Cross-entropy on the logits, scaled down (by a constant per image) only where their
    spread exceeds :data:`SPREAD_CAP`: a temperature on the logits (``10000 * z``) would
    otherwise round the softmax to one-hot and zero the gradient, which is masking, not
    robustness; below the cap the loss is the reference implementations' own."""
    spread = (z.max(dim=1, keepdim=True).values - z.min(dim=1, keepdim=True).values).detach()
    return torch.nn.functional.cross_entropy(
        z / (spread / SPREAD_CAP).clamp_min(1.0), y, reduction="none"
    )


def _dlr_loss(torch: Any, z: Any, y: Any) -> Any:
    ordered, _ = z.sort(dim=1)
    true = z.gather(1, y[:, None])[:, 0]
    other = z.clone()
    other.scatter_(1, y[:, None], -math.inf)
    best_other = other.max(dim=1).values
    return -(true - best_other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)


def _project(torch: Any, x: Any, clean: Any, eps: float) -> Any:
    return torch.clamp(torch.minimum(torch.maximum(x, clean - eps), clean + eps), 0, 1)


def _pgd(torch: Any, fn: Grad, x: Any, y: Any, x0: Any, eps: float, steps: int) -> Any:
    """Madry et al.'s PGD with a random start and torchattacks' step (eps / 4); keeps the
    latest adversarial point found (else the last iterate)."""
    step = PGD_STEP * eps
    adv, best = x0, x0.clone()
    found = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(steps):
        _, grad, fooled = loss_and_grad(torch, fn, adv, y)
        best[fooled], found = adv[fooled], found | fooled
        adv = _project(torch, adv + step * grad.sign(), x, eps)
    best[~found] = adv[~found]
    return best


def _apgd(torch: Any, fn: Grad, x: Any, y: Any, x0: Any, eps: float, steps: int) -> Any:
    """APGD (Croce and Hein, ICML 2020) as its reference code runs it: momentum, step size
    halved at checkpoints where the loss rose on at most 75% of the steps since the last one
    (or the best loss did not move), restarts from the best point."""
    checkpoints = _checkpoints(steps)
    step = torch.full((len(x), 1, 1, 1), 2.0 * eps, dtype=x.dtype)
    loss, grad, fooled = loss_and_grad(torch, fn, x0, y)
    adv, previous = x0, x0
    best_adv, best_loss, best_grad = x0.clone(), loss.clone(), grad.clone()
    result = torch.where(fooled[:, None, None, None], x0, x0)
    found = fooled.clone()
    rose, last_loss = torch.zeros(len(x)), loss.clone()
    last_best, reduced = best_loss.clone(), torch.ones(len(x), dtype=torch.bool)
    for i in range(steps):
        momentum = 0.75 if i > 0 else 1.0
        z = _project(torch, adv + step * grad.sign(), x, eps)
        moved = _project(
            torch, adv + (z - adv) * momentum + (adv - previous) * (1 - momentum), x, eps
        )
        previous, adv = adv, moved
        loss, grad, fooled = loss_and_grad(torch, fn, adv, y)
        # the latest fooling point, as the reference keeps it: deeper than the first one found,
        # so it survives the rounding to the 8-bit grid more often
        result[fooled], found = adv[fooled], found | fooled
        rose += (loss > last_loss).double()  # step over step, not over the best
        last_loss, better = loss.clone(), loss > best_loss
        best_adv[better], best_loss[better], best_grad[better] = (
            adv[better],
            loss[better],
            grad[better],
        )
        if i + 1 in checkpoints:
            gap = checkpoints[i + 1]
            halve = (rose <= 0.75 * gap) | (~reduced & (last_best >= best_loss))
            step[halve] /= 2.0
            adv[halve], grad[halve] = best_adv[halve], best_grad[halve]
            reduced, last_best, rose = halve, best_loss.clone(), torch.zeros(len(x))
    result[~found] = best_adv[~found]
    return result


def _checkpoints(steps: int) -> dict[int, int]:
    """Iteration -> length of the period that ends there: APGD's schedule as the reference code
    (AutoAttack, torchattacks) runs it, periods of 22% of the steps shrinking by 3% to 6%."""
    period = max(int(0.22 * steps), 1)
    shortest, shrink = max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    marks, at = {}, period
    while at <= steps:
        marks[at] = period
        period = max(period - shrink, shortest)
        at += period
    return marks
