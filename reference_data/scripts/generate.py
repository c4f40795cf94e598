"""Generate the clean reference sets: ``<out>/<profile>/clean/{NNNNN.png, label.txt}``.

Image ``i`` of a profile has class ``i % num_classes`` (so every prefix of a set is balanced) and
its own random generator seeded by ``(seed, profile, stream, i)``: the same seed gives
byte-identical PNGs, whatever the number of worker processes. Training images come from the same
function with another stream (see ``train_baseline.py``), so they never coincide with test images.

Run from the repository root::

    python reference_data/scripts/generate.py            # both profiles, default seed 2022
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import common
from common import PROFILES, ProfileSpec
from render import render_image

DEFAULT_SEED = 2022
DEFAULT_PER_CLASS = {"final": 5, "preliminary": 10}


def render_one(args: tuple[str, int, int, int, int]) -> np.ndarray:
    """Render image ``index`` of a profile: ``(profile name, seed, stream, index, size)``."""
    profile_name, seed, stream, index, size = args
    profile = PROFILES[profile_name]
    rng = common.image_seed(seed, profile, stream, index)
    spec = profile.classes[index % profile.num_classes]
    return render_image(rng, spec, size)


def generate_images(
    profile: ProfileSpec,
    seed: int,
    stream: int,
    indices: Sequence[int],
    size: int = common.IMAGE_SIZE,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``indices`` of a profile/stream: ``(N, size, size, 3)`` uint8, ``(N,)`` labels."""
    jobs = [(profile.name, seed, stream, int(i), size) for i in indices]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            images = list(pool.map(render_one, jobs, chunksize=64))
    else:
        images = [render_one(job) for job in jobs]
    labels = np.array([int(i) % profile.num_classes for i in indices], dtype=np.int64)
    return np.stack(images), labels


def write_clean_set(
    profile: ProfileSpec, out_root: Path, seed: int, per_class: int, size: int, workers: int
) -> Path:
    """Render and write ``<out_root>/<profile>/clean`` and ``classes.txt``; returns the folder."""
    count = per_class * profile.num_classes
    images, labels = generate_images(
        profile, seed, common.STREAM_TEST, range(count), size, workers
    )
    root = out_root / profile.name
    folder = root / "clean"
    names = [common.image_name(i) for i in range(count)]
    common.write_set(folder, names, images, labels)
    common.write_classes(root, profile)
    return folder


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=common.REFERENCE_ROOT,
                   help="reference-data root holding <profile>/ (default: reference_data/)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="test-set seed (default 2022)")
    p.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    p.add_argument("--size", type=int, default=common.IMAGE_SIZE, help="stored image side")
    p.add_argument("--final-per-class", type=int, default=DEFAULT_PER_CLASS["final"])
    p.add_argument("--preliminary-per-class", type=int,
                   default=DEFAULT_PER_CLASS["preliminary"])
    p.add_argument("--workers", type=int, default=2, help="processes (does not change output)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the clean set of each requested profile."""
    args = parse_args(argv)
    per_class = {"final": args.final_per_class, "preliminary": args.preliminary_per_class}
    for name in args.profiles:
        folder = write_clean_set(
            PROFILES[name], args.out, args.seed, per_class[name], args.size, args.workers
        )
        n = len(common.read_labels(folder))
        print(f"{name}: {n} images ({args.size}x{args.size}) -> {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
