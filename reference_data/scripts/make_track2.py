"""Build the Track 2 reference data set ``reference_data/track2/`` (detection of adversarial
examples on open-set images).

* clean: ``--clean`` open-set images (see track2_common.py), 64 x 64 PNG;
* adversarial, made against the Track 1 ``final`` baseline (the surrogate), labelled by the
  surrogate's own predictions:
  - with the validator's own attacks (``robust-validate attack --for detection`` machinery):
    square-linf, patch and laser on a held-out share of the clean images (224 x 224 PNG);
  - with torch white-box PGD in the stored 64 x 64 space on further images: ``pgd-linf-8``
    (eps 8/255, 10 steps) and ``pgd-l2`` (L2 eps 1.5 over the 64 x 64 x 3 image, 10 steps);
* benign changes (blur, brightness, grey, colour) on ~30 % of the images on both sides, named in
  each set's ``manifest.csv``; about 10 % of all images are adversarial.

Run from the repository root (torch needed)::

    python reference_data/scripts/make_track2.py
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import common
from torch_utils import StoredImageModel, setup_torch
from track2_common import STREAM_TEST, STREAM_WHITEBOX, SURROGATE, pgd, render, surrogate_labels
from validator.attacks.suites import Entry, Suite
from validator.attacks.laser import LaserBeam
from validator.attacks.patch import PatchAttack
from validator.attacks.square import SquareLinf
from validator.attacks.base import image_seed
from validator.detection import benign
from validator.detection.build import build_detection_set

DEFAULT_SEED = 2022
SUITE = Suite("track2-reference", (
    Entry(SquareLinf(), 300), Entry(PatchAttack(), 100), Entry(LaserBeam(), 100)), seed=2022)
WHITEBOX = (("pgd-linf-8", "linf", 8 / 255), ("pgd-l2", "l2", 1.5))


def write_whitebox(out: Path, seed: int, per_set: int, corrupt: float) -> None:
    """The torch white-box sets, each on its own fresh open-set images."""
    model = StoredImageModel(SURROGATE).eval()
    for k, (name, norm, eps) in enumerate(WHITEBOX):
        indices = range(k * per_set, (k + 1) * per_set)
        images = render(seed, STREAM_WHITEBOX, indices)
        adv = pgd(model, images, surrogate_labels(model, images), norm, eps, 10, seed + k)
        folder = out / "adversarial" / name
        names = [common.image_name(i) for i in indices]
        changes = benign.assign(names, corrupt, seed, name)
        rows = []
        folder.mkdir(parents=True, exist_ok=True)
        for file, img, change in zip(names, adv, changes):
            if change is not None:
                levels = benign.apply(img.transpose(2, 0, 1).astype(np.float64), change,
                                      image_seed(seed, change, file))
                img = np.clip(levels, 0, 255).astype(np.uint8).transpose(1, 2, 0)
            common.save_png(folder / file, img)
            rows.append([file, change or "none"])
        common.write_csv(folder / "manifest.csv", ["file", "corruption"], rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=common.REFERENCE_ROOT / "track2")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--clean", type=int, default=270, help="clean images rendered")
    p.add_argument("--whitebox", type=int, default=7, help="images per white-box set")
    p.add_argument("--corrupt", type=float, default=0.3, help="share with a benign change")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_torch()
    for sub in ("clean", "adversarial"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "clean"
        images = render(args.seed, STREAM_TEST, range(args.clean))
        common.write_set(source, [common.image_name(i) for i in range(args.clean)], images,
                         [0] * args.clean)
        built = build_detection_set(SURROGATE, source, args.out, SUITE, "final", fraction=0.06,
                                    corrupt=args.corrupt, seed=args.seed, threads=2)
    write_whitebox(args.out, args.seed, args.whitebox, args.corrupt)
    print(f"clean {built.clean}, tool attacks {built.adversarial}, "
          f"white-box {len(WHITEBOX)} x {args.whitebox}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
