"""Batch throughput: 20 submissions with ``--workers 1``, ``--workers 2`` and ``--ray``, and
the per-submission overhead of a batch against running ``robust-validate`` alone on each file.

- ``singles`` (the baseline): ``robust-validate check FILE --json ... --quiet`` run one after
  the other on the same 20 files (what an organizer's shell loop does).
- ``batch --workers 1``: the same files as one batch; (batch - singles) / 20 is the batch's own
  cost per submission (listing, hashing, fingerprints, rewriting the leaderboards and page).
- ``batch --workers 2`` and ``batch --ray``: speed-up against ``--workers 1`` (Ray started
  here on this machine's cores; its start-up is included).
- ``re-run``: the same batch again, every submission already finished (nothing evaluated).

Submissions are the 3-class colour model of tests/builders.py with 20 different projection
scales (20 distinct files, same answers), scored on tests/builders.colour_dataset at 16 x 16:
each evaluation is dominated by process start and the checks, as for a small real model. The
profile's memory limit is 3 GB for every contender (see main). Every
timing is wall-clock seconds of one pass (a batch is long enough to average itself).

Run from the repository root::

    python bench/bench_batch.py            # 1-5 minutes on 2 cores, idle to busy
    python bench/bench_batch.py --count 8  # fewer submissions
    python bench/bench_batch.py --no-ray   # without Ray
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import builders
from tests.integration.batch_entries import _projection_model


def _cli(*args: str | Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "validator", *map(str, args)], capture_output=True, text=True
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"robust-validate {args[0]} failed: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        subs = root / "subs"
        subs.mkdir()
        for i in range(args.count):
            _projection_model(subs / f"m{i:02d}.onnx", np.eye(3, dtype=np.float32) * (1 + i))
        data = builders.colour_dataset(root / "data")
        profile = builders.colour_profile(root / "tiny.toml")
        # Ray packs tasks by the memory they declare (limit_memory_bytes + 1 GB): 3 GB lets two
        # run at once on a small machine, as the workers do; the limit applies to every contender.
        profile.write_text(profile.read_text() + "limit_memory_bytes = 3_000_000_000\n")
        common = ("--profile", profile, "--data", data)
        singles = sum(
            _cli("check", f, *common, "--json", root / "r.json", "--quiet", "--threads", "2")
            for f in sorted(subs.iterdir())
        )
        timings = {"singles (baseline)": singles}
        runs = [
            ("batch --workers 1", ("--workers", "1")),
            ("batch --workers 2", ("--workers", "2")),
        ]
        if not args.no_ray:
            runs.append(("batch --ray", ("--ray",)))
        for name, extra in runs:
            out = root / name.replace(" ", "_")
            timings[name] = _cli("batch", subs, "--out", out, *common, *extra)
        timings["re-run (all finished)"] = _cli("batch", subs, "--out", root / "batch_--workers_2",
                                                *common)  # fmt: skip
    _print(timings, args.count)


def _print(timings: dict[str, float], count: int) -> None:
    singles, one = timings["singles (baseline)"], timings["batch --workers 1"]
    print(f"{count} submissions (colour model, 16 x 16, 6 clean + 6 attacked images each)")
    for name, seconds in timings.items():
        print(f"  {name:24s} {seconds:7.1f} s  {seconds / count:5.2f} s/submission  "
              f"x{singles / seconds:.2f} vs singles")  # fmt: skip
    print(f"  batch overhead per submission (workers 1 - singles) / {count}: "
          f"{(one - singles) / count:+.2f} s ({(one / singles - 1):+.0%})")  # fmt: skip
    for name in ("batch --workers 2", "batch --ray"):
        if name in timings:
            print(f"  {name} speed-up over --workers 1: x{one / timings[name]:.2f}")


if __name__ == "__main__":
    main()
