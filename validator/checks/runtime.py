"""Rules that need onnxruntime: ``runtime``, ``determinism`` and ``batch-consistency``."""

from __future__ import annotations

import numpy as np

from validator.checks.context import Context
from validator.checks.registry import Stage, register
from validator.findings import Finding, Status
from validator.inference import RuntimeFailure
from validator.vocab import CheckId

_RANDOM_OPS = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
     "Bernoulli"}
)  # fmt: skip


@register(CheckId.RUNTIME, "onnxruntime (CPU) runs a batch with finite outputs", Stage.RUNTIME)
def check_runtime(ctx: Context) -> Finding:
    try:
        run = ctx.sample_run
    except RuntimeFailure as exc:
        return ctx.verdict(CheckId.RUNTIME, False, exc.reason)
    out = run.batched
    mode = (
        "image by image (fixed batch 1)"
        if ctx.runner.fixed_batch == 1
        else f"as one batch of {run.batch_size}"
    )
    details = {"samples": ctx.samples.source, "output_shape": list(out.shape)}
    bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
    if bad:
        message = f"{bad} of {out.size} output values are NaN or infinite on {ctx.samples.source}"
        return ctx.verdict(CheckId.RUNTIME, False, message, bad, 0, details)
    message = (
        f"ran {ctx.samples.source} {mode}; output {' x '.join(map(str, out.shape))}, all finite"
    )
    return ctx.verdict(CheckId.RUNTIME, True, message, details=details)


def _random_nodes(ctx: Context) -> list[str]:
    index = ctx.analysis.index
    return [index.node_name(p) for p in index.order if index.nodes[p].op_type in _RANDOM_OPS]


def _tolerance(ctx: Context, reference: np.ndarray) -> float:
    scale = float(np.max(np.abs(reference))) if reference.size else 1.0
    return ctx.profile.tolerance * max(1.0, scale)


@register(CheckId.DETERMINISM, "two runs on the same batch agree", Stage.RUNTIME)
def check_determinism(ctx: Context) -> Finding:
    random = _random_nodes(ctx)
    try:
        run = ctx.sample_run
    except RuntimeFailure:
        return ctx.finding(CheckId.DETERMINISM, Status.SKIP, "skipped: the model does not run")
    diff = float(np.max(np.abs(run.batched - run.repeated))) if run.batched.size else 0.0
    tolerance = _tolerance(ctx, run.batched)
    ok = diff <= tolerance and not random
    message = f"max |difference| between two runs {diff:.3g} (tolerance {tolerance:.3g})"
    if random:
        message += f"; random operators: {', '.join(random[:5])}"
    details = {"max_abs_diff": diff, "random_nodes": random}
    return ctx.verdict(CheckId.DETERMINISM, ok, message, diff, tolerance, details)


@register(CheckId.BATCH_CONSISTENCY, "an image scores the same alone and in a batch", Stage.RUNTIME)
def check_batch_consistency(ctx: Context) -> Finding:
    try:
        run = ctx.sample_run
        if ctx.runner.fixed_batch == 1:
            message = "skipped: the batch is fixed to 1, so images are always run one by one"
            return ctx.finding(CheckId.BATCH_CONSISTENCY, Status.SKIP, message)
        alone = np.concatenate([ctx.runner.run(image[None]) for image in ctx.samples.tensors])
    except RuntimeFailure:
        return ctx.finding(
            CheckId.BATCH_CONSISTENCY, Status.SKIP, "skipped: the model does not run"
        )
    diff = float(np.max(np.abs(alone - run.batched))) if alone.size else 0.0
    tolerance = _tolerance(ctx, run.batched)
    worst = int(np.argmax(np.max(np.abs(alone - run.batched).reshape(len(alone), -1), axis=1)))
    message = (
        f"max |difference| alone vs in a batch of {run.batch_size}: {diff:.3g} "
        f"(tolerance {tolerance:.3g})"
    )
    if diff > tolerance:
        message += f"; worst is sample {worst}"
    return ctx.verdict(
        CheckId.BATCH_CONSISTENCY,
        diff <= tolerance,
        message,
        diff,
        tolerance,
        {"max_abs_diff": diff, "worst_sample": worst},
    )
