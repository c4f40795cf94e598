"""Rules that need onnxruntime: ``runtime``, ``determinism`` and ``batch-consistency``.

The evidence is as few inferences as gives it: the sample batch once, and the profile's
``runtime_alone`` of its images (2 by default, spread over the batch; every one when it is at
least ``runtime_batch``) alone once. Those are two separate runs over the same images, so when
they agree within the tolerance they show both that the model is deterministic and that an image
scores the same alone and in a batch; only when they disagree is the batch run a second time, to
tell the two failures apart. A model whose outputs depend on the batch's composition changes the
outputs of every image it mixes, so a few images alone find it as all of them would; organizers
who want every image compared set ``runtime_alone`` to ``runtime_batch``.
"""

from __future__ import annotations

import numpy as np

from validator.checks.context import Context, SampleRun
from validator.checks.registry import Stage, register
from validator.findings import Finding, Status
from validator.inference import RuntimeFailure
from validator.vocab import CheckId

_RANDOM_OPS = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
     "Bernoulli"}
)  # fmt: skip


@register(CheckId.RUNTIME, "onnxruntime runs a batch with finite outputs", Stage.RUNTIME)
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
    details = {
        "samples": ctx.samples.source,
        "output_shape": list(out.shape),
        "provider": ctx.runner.provider,
    }
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


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _alone_note(ctx: Context, count: int) -> str:
    """Which images ran alone, when not every one did: '' or ' (2 of the 8 ...: samples 0, 7)'."""
    positions = ctx.alone_positions
    if len(positions) >= count:
        return ""
    listed = ", ".join(map(str, positions))
    return f" ({len(positions)} of the {count} images run alone: samples {listed})"


def _alone_rows(ctx: Context, batched: np.ndarray) -> np.ndarray:
    """The rows of the batch's output that belong to the images run alone (all of it when the
    output does not have one row per image: the comparison then shows the mismatch)."""
    if len(batched) != len(ctx.samples.tensors):
        return batched
    return batched[ctx.alone_positions]


def _second_run(
    ctx: Context, run: SampleRun, tolerance: float
) -> tuple[np.ndarray, np.ndarray, str]:
    """Two runs of the same sample images, and how they were made: the batch's rows of the
    images run alone and those runs, when they agree (no extra inference when
    batch-consistency runs too), else the batch and the same batch again."""
    if ctx.runner.fixed_batch != 1:
        try:
            alone = ctx.alone_run
        except RuntimeFailure:
            alone = None  # a batch of one fails: batch-consistency says so
        first = _alone_rows(ctx, run.batched) if alone is not None else run.batched
        agrees = alone is not None and alone.shape == first.shape
        if agrees and alone is not None and _max_diff(alone, first) <= tolerance:
            how = "the images as one batch, then one by one" + _alone_note(ctx, len(run.batched))
            return first, alone, how
    return run.batched, ctx.repeated_run, "the same batch twice"


@register(CheckId.DETERMINISM, "two runs on the same images agree", Stage.RUNTIME)
def check_determinism(ctx: Context) -> Finding:
    random = _random_nodes(ctx)
    try:
        run = ctx.sample_run
        tolerance = _tolerance(ctx, run.batched)
        first, second, how = _second_run(ctx, run, tolerance)
    except RuntimeFailure:
        return ctx.finding(CheckId.DETERMINISM, Status.SKIP, "skipped: the model does not run")
    diff = _max_diff(first, second)
    ok = diff <= tolerance and not random
    message = f"max |difference| between two runs ({how}) {diff:.3g} (tolerance {tolerance:.3g})"
    if random:
        message += f"; random operators: {', '.join(random[:5])}"
    details = {"max_abs_diff": diff, "random_nodes": random, "runs": how}
    return ctx.verdict(CheckId.DETERMINISM, ok, message, diff, tolerance, details)


@register(CheckId.BATCH_CONSISTENCY, "an image scores the same alone and in a batch", Stage.RUNTIME)
def check_batch_consistency(ctx: Context) -> Finding:
    try:
        run = ctx.sample_run
        if ctx.runner.fixed_batch == 1:
            message = "skipped: the batch is fixed to 1, so images are always run one by one"
            return ctx.finding(CheckId.BATCH_CONSISTENCY, Status.SKIP, message)
        alone = ctx.alone_run
        positions = ctx.alone_positions
    except RuntimeFailure:
        return ctx.finding(
            CheckId.BATCH_CONSISTENCY, Status.SKIP, "skipped: the model does not run"
        )
    batched = _alone_rows(ctx, run.batched)
    diff = _max_diff(alone, batched)
    tolerance = _tolerance(ctx, run.batched)
    rows = np.max(np.abs(alone - batched).reshape(len(alone), -1), axis=1)
    worst = positions[int(np.argmax(rows))]
    message = (
        f"max |difference| alone vs in a batch of {run.batch_size}"
        f"{_alone_note(ctx, run.batch_size)}: {diff:.3g} (tolerance {tolerance:.3g})"
    )
    if diff > tolerance:
        message += f"; worst is sample {worst}"
    return ctx.verdict(
        CheckId.BATCH_CONSISTENCY,
        diff <= tolerance,
        message,
        diff,
        tolerance,
        {"max_abs_diff": diff, "worst_sample": worst, "alone_samples": positions},
    )
