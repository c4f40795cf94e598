"""Attack throughput against bare ``InferenceSession.run``, and the standard suite before/after.

Part 1 (``--throughput``): Square L-inf and L2, patch and laser, each run on the same images
through a ``QueryModel`` with query batch ``--batch``; every model call's batch size is
recorded, then a bare ``session.run`` loop replays exactly those batch sizes on clean images of
the same shape. Attack and replay alternate ``--reps`` times; the ratio (plain seconds / attack
seconds, i.e. our queries per second over plain's at the same batch sizes) is the median over
the pairs. Models: the bundled baseline and a ResNet-18-sized model (the golden ResNet-18 graph
from tests/fixtures/golden with random He-scaled weights; no torch needed). Target: >= 0.9.

Part 2 (``--suite DIR``): the standard suite without white-box attacks (15 corruptions, Square
L-inf and L2, patch, laser at their standard budgets) on the first ``--suite-images`` clean
reference images of the bundled baseline, written to disk, run in a fresh process with the code
of checkout DIR (e.g. ``git worktree add /tmp/before <commit>``) and with this checkout,
alternating ``--pairs`` times. Prints each wall time, the ratio, and which sets came out
byte-identical between the two checkouts.

    python bench/bench_attack_speed.py --throughput
    python bench/bench_attack_speed.py --suite /tmp/before --suite-images 100
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_attacks import BASELINE, PROFILE, clean_images, session
from bench_scoring import resnet50_sized

from validator.attacks.base import Attack
from validator.attacks.laser import LaserBeam
from validator.attacks.model_fn import QueryModel, to_input
from validator.attacks.patch import PatchAttack
from validator.attacks.square import SquareLinf
from validator.attacks.square_l2 import SquareL2

REPO = Path(__file__).resolve().parent.parent
GOLDEN_RESNET18 = REPO / "tests" / "fixtures" / "golden" / "resnet18.onnx"
ATTACKS: dict[str, Callable[[], Attack]] = {
    "square-linf": SquareLinf,
    "square-l2": SquareL2,
    "patch": PatchAttack,
    "laser": LaserBeam,
}
SUITE_TOML = """name = "standard-no-whitebox"
[[attack]]
kind = "square-linf"
budget = 1000
[[attack]]
kind = "square-l2"
budget = 1000
[[attack]]
kind = "patch"
budget = 1000
[[attack]]
kind = "laser"
budget = 300
[[attack]]
kind = "corruptions"
"""
RUN_SUITE = """
import json, sys, time
import onnxruntime
from validator.attacks.runner import attack_dataset
sizes, original = [], onnxruntime.InferenceSession.run
def run(self, names, feed, *args, **kwargs):  # every model call's batch size, for the floor
    sizes.append(len(next(iter(feed.values()))))
    return original(self, names, feed, *args, **kwargs)
onnxruntime.InferenceSession.run = run
start = time.perf_counter()
attack_dataset(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], max_images=int(sys.argv[5]))
print(time.perf_counter() - start)
with open(sys.argv[6], "w") as out:
    json.dump(sizes, out)
"""


def timed_attack(sess, attack: Attack, levels, labels, budget: int, batch: int):  # type: ignore[no-untyped-def]
    """(seconds, queries, batch sizes sent) of one attack run."""
    sizes: list[int] = []
    name = sess.get_inputs()[0].name

    def forward(x: np.ndarray) -> np.ndarray:
        sizes.append(len(x))
        return np.asarray(sess.run(None, {name: x})[0])

    model = QueryModel(forward, PROFILE.channel_order, batch_size=batch)
    seeds = list(range(len(levels)))
    start = time.perf_counter()
    result = attack.run(model, levels, labels, seeds, budget)
    return time.perf_counter() - start, model.queries, sizes, float(result.success.mean())


def plain_seconds(sess, sizes: list[int], inputs: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Seconds of bare session.run over the same batch sizes (clean images, tiled)."""
    name = sess.get_inputs()[0].name
    batches = {
        n: np.ascontiguousarray(np.resize(inputs, (n, *inputs.shape[1:]))) for n in set(sizes)
    }
    start = time.perf_counter()
    for n in sizes:
        sess.run(None, {name: batches[n]})
    return time.perf_counter() - start


def throughput(path: Path, label: str, images: int, budget: int, batch: int, reps: int) -> None:
    sess = session(path)
    name = sess.get_inputs()[0].name
    levels, labels = clean_images(images, lambda x: np.asarray(sess.run(None, {name: x})[0]))
    inputs = to_input(levels, PROFILE.channel_order)
    print(f"\n{label}: {len(levels)} images, budget {budget}, query batch {batch}, {reps} pairs")
    print(f"{'attack':12s} {'queries':>8s} {'calls':>6s} {'mean batch':>10s} {'ours q/s':>9s} "
          f"{'plain q/s':>9s} {'ratio':>6s} {'success':>7s}")  # fmt: skip
    for kind, make in ATTACKS.items():
        ratios, ours, plain = [], [], []
        for _ in range(reps):
            wall, queries, sizes, success = timed_attack(
                sess, make(), levels, labels, budget, batch
            )
            base = plain_seconds(sess, sizes, inputs)
            ratios.append(base / wall)
            ours.append(queries / wall)
            plain.append(sum(sizes) / base)
        print(f"{kind:12s} {queries:8d} {len(sizes):6d} {np.mean(sizes):10.1f} "
              f"{np.median(ours):9.0f} {np.median(plain):9.0f} {np.median(ratios):6.2f} "
              f"{success:7.3f}")  # fmt: skip


def digests(root: Path) -> dict[str, str]:
    """sha256 over each attacked set's images and labels (names and bytes); the manifests are
    left out: they gained fields over time, and the images are what must not change."""
    out = {}
    for folder in sorted((root / "attacked").iterdir()):
        digest = hashlib.sha256()
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "manifest.json":
                digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
        out[folder.name] = digest.hexdigest()
    return out


def suite_run(
    code: Path, work: Path, tag: str, images: int
) -> tuple[float, float, dict[str, str], list[int]]:
    """(process wall s, attack_dataset wall s, set digests, batch size of every model call) of
    one suite run with ``code``."""
    toml = work / "standard-no-whitebox.toml"
    toml.write_text(SUITE_TOML)
    out = work / tag
    env = {**os.environ, "PYTHONPATH": str(code)}
    data = REPO / "reference_data" / "final"
    calls = work / f"{tag}-calls.json"
    command = [sys.executable, "-c", RUN_SUITE, str(BASELINE), str(data), str(out), str(toml),
               str(images), str(calls)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    found = digests(out)
    subprocess.run(["rm", "-rf", str(out)], check=True)
    sizes = json.loads(calls.read_text())
    return wall, float(done.stdout.strip().splitlines()[-1]), found, sizes


def floor_seconds(sizes: list[int]) -> float:
    """Bare session.run on the bundled baseline over exactly these batch sizes: what
    onnxruntime alone needs for the suite's model calls, the least any attack code can take."""
    sess = session(BASELINE)
    name = sess.get_inputs()[0].name
    levels, _ = clean_images(8, lambda x: np.asarray(sess.run(None, {name: x})[0]))
    return plain_seconds(sess, sizes, to_input(levels, PROFILE.channel_order))


def suite(before: Path, images: int, pairs: int) -> None:
    print(f"\nstandard suite without white-box, {images} images of the bundled baseline, "
          f"{pairs} pairs (before: {before})")  # fmt: skip
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for k in range(pairs):
            old = suite_run(before, work, f"before{k}", images)
            new = suite_run(REPO, work, f"after{k}", images)
            ratios.append(old[1] / new[1])
            print(f"pair {k}: before {old[1]:.1f} s (process {old[0]:.1f}), after {new[1]:.1f} s "
                  f"(process {new[0]:.1f}): {old[1] / new[1]:.2f}x faster")  # fmt: skip
            for tag, run in (("before", old), ("after", new)):
                floor = floor_seconds(run[3])
                print(f"  {tag}: {len(run[3])} model calls, {sum(run[3])} images; bare run of "
                      f"the same calls {floor:.1f} s = {floor / run[1]:.0%} of the suite; the "
                      f"most any attack code could gain over before: "
                      f"{old[1] / floor:.2f}x")  # fmt: skip
            same = sorted(n for n in new[2] if old[2].get(n) == new[2][n])
            changed = sorted(n for n in new[2] if old[2].get(n) != new[2][n])
            print(f"  sets with byte-identical images and labels: {len(same)}; changed: "
                  f"{', '.join(changed) or 'none'}")  # fmt: skip
    print(f"suite speed-up (median over pairs): {np.median(ratios):.2f}x (target >= 2)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--throughput", action="store_true", help="part 1")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--resnet-images", type=int, default=32)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--resnet-budget", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64, help="query batch (QueryModel)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--suite", type=Path, help="part 2: the checkout to compare against")
    parser.add_argument("--suite-images", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    if args.throughput:
        throughput(BASELINE, "bundled baseline", args.images, args.budget, args.batch, args.reps)
        with tempfile.TemporaryDirectory() as tmp:
            resnet = resnet50_sized(Path(tmp) / "resnet18_sized.onnx", golden=GOLDEN_RESNET18)
            throughput(resnet, "ResNet-18-sized", args.resnet_images, args.resnet_budget,
                       args.batch, args.reps)  # fmt: skip
    if args.suite is not None:
        suite(args.suite.resolve(), args.suite_images, args.pairs)
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
