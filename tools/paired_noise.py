"""Measure the paired noise of the masked-variant test: the plain tiny classifier attacked with
the variant suite on the same 12 images under several suite seeds (each seed changes every
attack's per-image seeds: Square's squares, PGD's and APGD's random starts).

    python tools/paired_noise.py [--seeds 8] [--variants]

Prints, per seed, the images left right per set, pooled over the three sets (of 36) and in the
worst case per image (of 12); then the spread over seeds (max - min, mean, sd) that the test's
tolerance comes from. ``--variants`` also attacks every masked variant at seed 0 (the table in
docs/attacks.md; ``--variant KIND`` one of them); ``--no-straight-through`` turns off the
ArgMax straight-through (the "before" row of the ArgMax variant).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.masked_variants import IMAGES, VARIANTS, masked_variant, paired_suite
from tests.unit.test_attacks_models import (
    linear_model,
    save,
    test_profile,
    write_dataset,
)
from validator.attacks.outcomes import SuiteRun
from validator.attacks.runner import run_suite


def _right(run: SuiteRun) -> tuple[list[float], float, int]:
    """Per set, images counted right (expectation for a random model); pooled; worst case."""
    per_set = [
        float(o.expected_correct if o.expected_correct is not None else o.correct)
        for o in run.attacked
    ]
    worst = int(run.worst_case["correct"]) if run.worst_case else 0
    return per_set, sum(per_set), worst


def _row(name: str, run: SuiteRun) -> str:
    per_set, pooled, worst = _right(run)
    sets = " ".join(f"{v:6.2f}" for v in per_set) + "   skipped" * (3 - len(per_set))
    images = sum(o.images for o in run.attacked)
    signs = ",".join(sorted({s.kind.value for s in run.signs})) or "none"
    return f"{name:>18} {sets}   pooled {pooled:6.2f}/{images}   worst {worst}/{IMAGES}   {signs}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--variants", action="store_true", help="every masked variant")
    parser.add_argument("--variant", action="append", default=[], choices=VARIANTS)
    parser.add_argument("--no-straight-through", action="store_true")
    args = parser.parse_args()
    if args.no_straight_through:
        import validator.attacks.torch_graph as graph

        graph.find_quantisers = lambda g: []  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = save(linear_model(), folder, "plain")
        data = write_dataset(folder / "data", plain, IMAGES)
        print(f"{'seed':>18} square    pgd   apgd")
        pooled, worst = [], []
        for seed in range(args.seeds):
            run = run_suite(plain, data, paired_suite(seed), test_profile())
            print(_row(f"plain, seed {seed}", run))
            _, p, w = _right(run)
            pooled.append(p)
            worst.append(w)
        for name, values, of in (("pooled", pooled, 3 * IMAGES), ("worst", worst, IMAGES)):
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            print(
                f"{name}: min {min(values):g} max {max(values):g} (max - min "
                f"{max(values) - min(values):g} of {of}), mean {statistics.mean(values):.2f}, "
                f"sd {sd:.2f} images"
            )
        for kind in VARIANTS if args.variants else args.variant:
            path = save(masked_variant(kind), folder, kind)
            print(_row(kind, run_suite(path, data, paired_suite(0), test_profile())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
