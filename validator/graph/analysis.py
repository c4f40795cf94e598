"""Static analysis of a whole model: shapes at a bound batch, multiply-adds, parameters.

Control flow: an If counts its most expensive branch, a Loop with a constant trip count counts
its body that many times, a Loop or Scan whose count depends on data counts its body once; each
such choice is recorded in ``notes`` so the report can say so.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import onnx

from validator.graph.index import GraphIndex, build_index
from validator.graph.params import ParamCount, count_params
from validator.graph.shapes import ShapeMap, ShapeProbe, infer_shapes, make_skeleton
from validator.graph.tally import MacTally, tally_graph
from validator.vocab import MacsConvention

__all__ = [
    "GraphAnalysis", "MacTally", "analyse", "fixed_batch", "macs_at_batch", "paused_gc", "top_ops",
]  # fmt: skip


@dataclass(frozen=True)
class GraphAnalysis:
    """Everything the static checks need, computed once per model and batch size."""

    batch: int
    size: int
    index: GraphIndex
    skeleton: onnx.ModelProto  # weight-free copy, reused to infer other batch sizes
    shapes: ShapeMap
    macs: MacTally
    params: ParamCount
    probe: ShapeProbe | None = None  # reused to measure other batch sizes


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: the analyses build millions of small tuples and
    dicts on a 200,000-node graph, and each full collection walks them all again (a quarter
    of the analysis' time there). Refcounting still frees everything that holds no cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyse(
    model: onnx.ModelProto, batch: int = 1, size: int = 224, probe: ShapeProbe | None = None
) -> GraphAnalysis:
    """Shapes, multiply-adds and parameters of ``model`` with the batch bound to ``batch``.
    ``probe`` measures at run time the shapes static inference cannot find (shapes.py)."""
    with paused_gc():
        return _analyse(model, batch, size, probe)


def _analyse(
    model: onnx.ModelProto, batch: int, size: int, probe: ShapeProbe | None
) -> GraphAnalysis:
    skeleton = make_skeleton(model)
    notes: list[str] = []
    index = build_index(model.graph)
    shapes = infer_shapes(
        model, batch, size, skeleton=skeleton, probe=probe, notes=notes, index=index
    )
    tally = tally_graph(index, shapes)
    tally.notes.extend(notes)
    fixed = fixed_batch(index)
    if fixed is not None and fixed > 1:
        tally.per_image(fixed)
    params = count_params(index, shapes)
    return GraphAnalysis(batch, size, index, skeleton, shapes, tally, params, probe)


def fixed_batch(index: GraphIndex) -> int | None:
    """The batch size of the first input, an N x C x H x W image, when the file fixes it."""
    if not index.inputs:
        return None
    dims = index.inputs[0].type.tensor_type.shape.dim
    if len(dims) == 4 and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        return int(dims[0].dim_value)
    return None


def macs_at_batch(analysis: GraphAnalysis, batch: int) -> MacTally:
    """Multiply-adds of the same model at another batch size (index and skeleton reused; the
    totals and per-op figures only, no per-node detail)."""
    with paused_gc():
        shapes = infer_shapes(
            analysis.skeleton, batch, analysis.size, skeleton=analysis.skeleton,
            probe=analysis.probe, index=analysis.index,
        )  # fmt: skip
        return tally_graph(analysis.index, shapes, detail=False)


def top_ops(tally: MacTally, convention: MacsConvention, n: int = 8) -> Iterable[tuple[str, int]]:
    """The op types with the most multiply-adds under ``convention``."""
    ranked = sorted(tally.by_op.items(), key=lambda kv: -kv[1][convention])
    return [(op, counts[convention]) for op, counts in ranked[:n] if counts[convention]]
