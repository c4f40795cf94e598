"""The full static check of a ResNet-50-sized model against a plain baseline in the same run.

- ``baseline``: ``onnx.load(path)`` plus onnx-tool's profile of the loaded model (graph build,
  node reordering, shape inference, MACs and params): what ``onnx_tool.model_profile`` does,
  without printing its tables. Also timed in a forked child, for scale only: that is what the
  same work costs where every page is new, as in validate()'s isolated child.
- ``ours (static)``: ``validator.validate(path, select=<every static check>)``: load (read,
  parse, structure and external-data checks, onnx.checker, SHA-256), graph analysis at batch 1
  and 2, and every static check, in the isolated child as users run it. Target (issue 15): at
  most 1.2x the baseline.
- ``ours (--checks-only)``: the same with the runtime checks (onnxruntime session and the
  sample images). Target (issue 15): at most 2x the baseline.

CPU seconds count this process and its children (validate() works in a forked child).

The model is tests/fixtures/golden/resnet50.onnx with every ConstantOfShape weight filler made
a seeded random float32 initializer (bench_scoring.resnet50_sized: 25.6 M parameters, ~102 MB),
checked against the final profile with 1000 classes. Timings are the best of ``--repeat``
passes, the contenders interleaved in rotating order. Then the node-count curve: the whole
``--checks-only`` run on tests/conftest.chain_classifier graphs of 10k to 200k nodes against a
plain baseline on the same file (``onnx.load`` plus building an onnxruntime session), to show
the cost stays linear (target: 200k nodes under 3 s). ``--chain-onnx-tool`` also times
onnx-tool on the 200k graph in a child process with a time limit.

Run from the repository root::

    python bench/bench_static.py                  # ~1 minute on 2 idle cores, more when busy
    python bench/bench_static.py --repeat 5       # more passes on a noisy machine
    python bench/bench_static.py --curve ''        # skip the node-count curve
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import functools
import hashlib
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # tests.conftest and bench_scoring

from bench_scoring import resnet50_sized  # noqa: E402

from tests.conftest import chain_classifier, save_model  # noqa: E402
from validator import validate  # noqa: E402
from validator.checks import CHECKS, Stage  # noqa: E402
from validator.checks.context import Context  # noqa: E402
from validator.config import PROFILES, Profile  # noqa: E402
from validator.graph.analysis import analyse  # noqa: E402
from validator.loading.model import LoadedModel, load_model  # noqa: E402

TARGET = 1.2
TARGET_RUNTIME = 2.0
CURVE = (10_000, 50_000, 100_000, 200_000)
PROFILE: Profile = dataclasses.replace(PROFILES.get("final"), name="final-1000", num_classes=1000)
STATIC = [spec.id.value for spec in CHECKS if spec.stage is Stage.STATIC]
EVERYTHING = [spec.id.value for spec in CHECKS]

# Where time goes inside load_model and analyse: label -> (file suffix, function name).
LOAD_PARTS = {
    "read the file (hashing starts)": ("validator/loading/reading.py", "read_hashed"),
    "parse the protobuf": ("validator/loading/model.py", "_parse"),
    "structure and tensor sizes": ("validator/loading/model.py", "_check_structure"),
    "external data": ("validator/loading/model.py", "_external_data_files"),
    "onnx.checker": ("validator/loading/model.py", "_run_checker"),
    "waiting for the sha256 thread": ("threading.py", "join"),
}
ANALYSIS_PARTS = {
    "shape inference": ("validator/graph/shapes.py", "infer_shapes"),
    "  of which copying the model": ("validator/graph/shapes.py", "_skeleton"),
    "graph index": ("validator/graph/index.py", "build_index"),
    "multiply-adds": ("validator/graph/tally.py", "tally_graph"),
    "parameters": ("validator/graph/params.py", "count_params"),
}


# --- the contenders ---------------------------------------------------------------------------


def baseline(path: Path) -> dict[str, float]:
    """onnx.load + onnx-tool's profile; returns its MACs and params (to show it did the work)."""
    import onnx_tool  # dev dependency only

    model = onnx.load(str(path))
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnx-tool warns about every op it does not count
        graph = onnx_tool.Model(model, {"verbose": False}).graph
        graph.graph_reorder_nodes()
        graph.shape_infer({"input": np.ones((1, 3, 224, 224), np.float32)})
        graph.profile(exclude_ops=set(onnx_tool.NoMacsOps))
    return {"macs": float(graph.macs[0]), "params": float(graph.params)}


def baseline_forked(path: Path) -> None:
    """The baseline in a forked child, as validate() isolates its work: the same parse and
    profile paying for fresh memory (every page of a new process is faulted in once), for
    scale. Not the target's reference."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            baseline(path)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise SystemExit("the forked baseline failed")


def ours(path: Path, checks: Sequence[str]) -> dict[str, float]:
    """validate() with ``checks``; returns the macs and params it measured."""
    report = validate(path, PROFILE, select=checks)
    failed = [
        f"{f.id}: {f.message}" for f in report.findings if f.status.value in ("fail", "error")
    ]
    if failed:
        raise SystemExit(f"unexpected failures on the benchmark model: {failed}")
    macs = report.measurements.get("macs", {}).get(PROFILE.macs_convention.value, 0)
    return {"macs": float(macs), "params": float(report.measurements.get("params", 0))}


class Timing(NamedTuple):
    """Best wall-clock and best CPU seconds (all threads of this process) over the passes;
    CPU time is the steadier figure when other work shares the cores."""

    wall: float
    cpu: float


def cpu_seconds() -> float:
    """CPU seconds of this process and of its reaped children (validate()'s forked child)."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best_of(contenders: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, Timing]:
    """Best times of each contender over ``repeat`` passes, interleaved in rotating order so
    that a burst of load on a shared machine does not fall on one contender only."""
    names = list(contenders)
    best = dict.fromkeys(names, Timing(float("inf"), float("inf")))
    for attempt in range(repeat):
        for name in names[attempt % len(names) :] + names[: attempt % len(names)]:
            wall, cpu = time.perf_counter(), cpu_seconds()
            contenders[name]()
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            best[name] = Timing(min(best[name].wall, wall), min(best[name].cpu, cpu))
    return best


def best(fn: Callable[[], object], repeat: int) -> Timing:
    """Best times of ``fn`` over ``repeat`` calls."""
    return best_of({"fn": fn}, repeat)["fn"]


# --- where our time goes ----------------------------------------------------------------------


def profiled_shares(
    call: Callable[[], object], parts: Mapping[str, tuple[str, str]]
) -> dict[str, float]:
    """Share of ``call``'s profiled time spent in (and below) each function of ``parts``."""
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values()) or 1.0  # sum of own times = wall time
    shares: dict[str, float] = {}
    for label, (suffix, function) in parts.items():
        inside = sum(e[3] for (f, _, n), e in stats.items() if f.endswith(suffix) and n == function)
        shares[label] = inside / total
    return shares


def breakdown(path: Path, repeat: int) -> list[tuple[str, float]]:
    """Rows (label, seconds) of where ``ours (static)`` spends its time: timed stages, split by
    profiling (profiler overhead is spread, so the split is approximate)."""
    rows: list[tuple[str, float]] = []
    load = best(lambda: load_model(path).sha256, repeat).wall
    rows.append(("load_model, then its sha256", load))
    split = profiled_shares(lambda: load_model(path).sha256, LOAD_PARTS)
    rows += [(f"  {k}", load * v) for k, v in split.items()]
    data = path.read_bytes()
    sha = best(lambda: hashlib.sha256(data), repeat).wall
    rows.append(("  (sha256 of the file alone, for scale)", sha))
    model = load_model(path)
    for batch in (1, 2):
        run = functools.partial(analyse, model.proto, batch, PROFILE.input_size)
        seconds = best(run, repeat).wall
        rows.append((f"analyse at batch {batch}", seconds))
        rows += [(f"  {k}", seconds * v) for k, v in profiled_shares(run, ANALYSIS_PARTS).items()]
    rows += _check_rows(model, repeat)
    return rows


def _check_rows(model: LoadedModel, repeat: int) -> list[tuple[str, float]]:
    """Each static check's own time, the analyses already computed and cached."""
    ctx = Context(model, PROFILE)
    _ = ctx.analysis, ctx.macs_batch2
    times = {
        spec.id.value: best(functools.partial(spec.run, ctx), repeat).wall
        for spec in CHECKS
        if spec.stage is Stage.STATIC
    }
    rows = [("static checks (analyses cached)", sum(times.values()))]
    return rows + [(f"  {name}", t) for name, t in sorted(times.items(), key=lambda kv: -kv[1])[:4]]


# --- the 200,000-node graph -------------------------------------------------------------------


def baseline_in_child(path: Path, limit: float) -> Timing | str:
    """Time the baseline in a child process; a reason string if it fails or takes over
    ``limit`` seconds (onnx-tool's graph construction is not linear in the node count)."""
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--baseline-only", str(path)],
            capture_output=True, text=True, timeout=limit, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"skipped: onnx-tool did not finish in {limit:.0f} s"
    if done.returncode != 0:
        return f"skipped: onnx-tool failed ({done.stderr.strip().splitlines()[-1:]})"
    return Timing(**json.loads(done.stdout.strip().splitlines()[-1]))


# --- report -----------------------------------------------------------------------------------


def print_table(title: str, times: Mapping[str, Timing | str], reference: str) -> None:
    """Wall and CPU seconds per contender, each with its ratio to ``reference``."""
    print(f"\n{title}")
    print(f"  {'':<34} {'wall s':>8} {'ratio':>7} {'cpu s':>8} {'ratio':>7}")
    base = times.get(reference)
    for name, value in times.items():
        if isinstance(value, str):
            print(f"  {name:<34} {value}")
            continue
        cells = [f"{value.wall:8.3f}", "", f"{value.cpu:8.3f}", ""]
        if isinstance(base, Timing) and name != reference:
            cells[1], cells[3] = f"{value.wall / base.wall:6.2f}x", f"{value.cpu / base.cpu:6.2f}x"
        print(f"  {name:<34} {cells[0]} {cells[1]:>7} {cells[2]} {cells[3]:>7}")


def print_breakdown(rows: Sequence[tuple[str, float]]) -> None:
    print("\nwhere ours (static) goes (best of the passes; sub-rows split by profiling)")
    for label, seconds in rows:
        print(f"  {label:<44} {seconds:8.3f} s")


def run_resnet(folder: Path, repeat: int) -> None:
    path = resnet50_sized(folder / "resnet50_sized.onnx", num_classes=1000)
    print(f"model: {path.name}, {path.stat().st_size / 1e6:.1f} MB, {len(STATIC)} static checks")
    found = {"baseline": baseline(path), "ours": ours(path, STATIC)}
    print("  baseline measures {macs:.3g} MACs, {params:.4g} params".format(**found["baseline"]))
    print("  ours measures     {macs:.3g} MACs, {params:.4g} params".format(**found["ours"]))
    times = best_of(
        {
            "baseline (onnx.load + onnx-tool)": lambda: baseline(path),
            "same, in a forked child (scale)": lambda: baseline_forked(path),
            "ours (static)": lambda: ours(path, STATIC),
            "ours (--checks-only)": lambda: ours(path, EVERYTHING),
        },
        repeat,
    )
    print_table(f"ResNet-50-sized, best of {repeat}", times, "baseline (onnx.load + onnx-tool)")
    base = times["baseline (onnx.load + onnx-tool)"]
    for name, target in (("ours (static)", TARGET), ("ours (--checks-only)", TARGET_RUNTIME)):
        for kind in ("wall", "cpu"):
            ratio = getattr(times[name], kind) / getattr(base, kind)
            verdict = "meets" if ratio <= target else "MISSES"
            print(f"  {name} / baseline = {ratio:.2f}x {kind}: {verdict} the {target}x target")
    print_breakdown(breakdown(path, repeat))


def run_chain(folder: Path, length: int, repeat: int, limit: float) -> None:
    path = save_model(chain_classifier(length, PROFILE.num_classes), folder / "chain.onnx")
    nodes = length + 5
    print(f"\n{nodes:,}-node graph ({path.stat().st_size / 1e6:.1f} MB)")
    times: dict[str, Timing | str] = {
        "baseline (onnx.load + onnx-tool)": baseline_in_child(path, limit),
        "ours (static)": best(lambda: ours(path, STATIC), repeat),
        "ours (--checks-only)": best(lambda: ours(path, EVERYTHING), repeat),
        "  load_model": best(lambda: load_model(path), repeat),
    }
    model = load_model(path)
    times["  analyse at batch 1"] = best(lambda: analyse(model.proto, 1, 224), repeat)
    print_table(f"{nodes:,} nodes, best of {repeat}", times, "baseline (onnx.load + onnx-tool)")


def plain_chain(path: Path) -> None:
    """The plain baseline on a long graph: parse it, build an onnxruntime session on it."""
    import onnxruntime as ort

    onnx.load(str(path))
    options = ort.SessionOptions()
    options.log_severity_level = 4
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_curve(folder: Path, lengths: Sequence[int], repeat: int) -> None:
    """The whole --checks-only run against onnx.load + an onnxruntime session, per node count."""
    print(f"\n--checks-only on long graphs (tests.conftest.chain_classifier), best of {repeat}")
    print(f"  {'nodes':>8} {'plain s':>8} {'ours s':>8} {'ratio':>6} {'ours cpu':>9} "
          f"{'ratio':>6} {'us/node':>8}")  # fmt: skip
    for length in lengths:
        path = save_model(chain_classifier(length, PROFILE.num_classes), folder / "chain.onnx")
        times = best_of(
            {
                "plain": functools.partial(plain_chain, path),
                "ours": functools.partial(ours, path, EVERYTHING),
            },
            repeat,
        )
        plain, mine = times["plain"], times["ours"]
        print(f"  {length + 5:>8,} {plain.wall:8.2f} {mine.wall:8.2f} "
              f"{mine.wall / plain.wall:5.2f}x {mine.cpu:9.2f} {mine.cpu / plain.cpu:5.2f}x "
              f"{mine.wall / (length + 5) * 1e6:8.1f}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per contender (best kept)")
    parser.add_argument(
        "--curve", default=",".join(map(str, CURVE)), help="node counts of the curve ('': skip)"
    )
    parser.add_argument(
        "--chain-onnx-tool", type=int, default=0, help="nodes of a graph to time onnx-tool on"
    )
    parser.add_argument("--chain-repeat", type=int, default=1, help="passes on the long graph")
    parser.add_argument(
        "--chain-limit", type=float, default=120.0, help="seconds onnx-tool may take"
    )
    parser.add_argument(
        "--no-resnet", dest="resnet", action="store_false", help="skip the ResNet-50 part"
    )
    parser.add_argument("--baseline-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_only:  # the child process of baseline_in_child
        print(json.dumps(best(lambda: baseline(args.baseline_only), 1)._asdict()))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_static_") as tmp:
        if args.resnet:
            run_resnet(Path(tmp), args.repeat)
        if args.curve:
            run_curve(Path(tmp), [int(n) for n in args.curve.split(",")], args.chain_repeat)
        if args.chain_onnx_tool:
            run_chain(Path(tmp), args.chain_onnx_tool, args.chain_repeat, args.chain_limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
