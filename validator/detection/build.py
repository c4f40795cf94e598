"""``robust-validate attack SURROGATE --for detection``: write a Track 2 data set.

From a folder of clean images (classes do not matter), against a surrogate classifier:

1. the surrogate labels every clean image (its own prediction, since open-set images have no
   label it knows; attacks push the image away from that prediction);
2. a seeded ``fraction`` of the images (default 10 %) become adversarial sources, shared out
   between the suite's adversarial attacks (its corruption entries are dropped: they are benign)
   and removed from ``clean/``, so every image appears once;
3. the suite runs against the surrogate; its sets are moved to ``adversarial/<attack>/``;
4. a seeded ``corrupt`` fraction of the images on both sides get one benign change (blur,
   brightness, grey, colour), recorded in each set's ``manifest.csv``.

Clean images keep their bytes (or, when changed, their size, as PNG); adversarial images are PNGs
at the profile's input size, as the attacks make them.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from validator.attacks import SuiteRun, load_suite, run_suite
from validator.attacks.base import Family, image_seed
from validator.attacks.suites import Entry, Suite
from validator.attacks.writer import png_name, prepare_folder, write_png
from validator.config import Profile, load_profile
from validator.data.datasets import ImageSet, LabelSource, Sample, SetKind
from validator.data.images import load_image
from validator.detection import benign
from validator.detection.data import (
    ADVERSARIAL_DIR,
    CLEAN_DIR,
    MANIFEST,
    NO_CORRUPTION,
    DetectionKind,
)
from validator.detection.data import _unlabelled_set as list_images
from validator.errors import DataError, UsageError
from validator.inference import Runner, RuntimeFailure
from validator.scoring.arithmetic import predict

STAGING = ".staging"


@dataclass(frozen=True)
class DetectionBuild:
    """What was written: image counts per set, and the suite run against the surrogate."""

    clean: int
    adversarial: dict[str, int]
    run: SuiteRun


def build_detection_set(
    surrogate: Path,
    data: Path,
    out: Path,
    suite: str | Suite = "quick",
    profile: str | Profile = "final",
    *,
    fraction: float = 0.1,
    corrupt: float = 0.3,
    seed: int = 0,
    threads: int | None = None,
    gradients: Any = None,
) -> DetectionBuild:
    """Write ``out/clean/`` and ``out/adversarial/<attack>/`` (see the module docstring);
    ``gradients`` (a PyTorch surrogate's module, see run_suite) goes on to run_suite."""
    if not 0 < fraction < 1 or not 0 <= corrupt <= 1:
        raise UsageError("the adversarial fraction must be in (0, 1) and corrupt in [0, 1]")
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    chosen = _adversarial_suite(suite if isinstance(suite, Suite) else load_suite(suite))
    folder = data / CLEAN_DIR if (data / CLEAN_DIR).is_dir() else data
    images = list_images(folder, CLEAN_DIR, DetectionKind.CLEAN).samples
    order = np.random.default_rng(seed).permutation(len(images))
    count = max(len(chosen.entries), round(fraction * len(images)))
    sources = sorted(int(i) for i in order[:count])
    labels = _surrogate_labels(surrogate, [images[i].path for i in sources], prof, threads)
    picked = tuple(
        Sample(images[i].path, images[i].name, int(y)) for i, y in zip(sources, labels, strict=True)
    )
    staging = out / STAGING
    source_set = ImageSet("clean", SetKind.CLEAN, folder, picked, LabelSource.LABEL_FILE)
    run = run_suite(surrogate, source_set, chosen, prof, out_root=staging, threads=threads,
                    gradients=gradients)  # fmt: skip
    held_out = {images[i].name for i in sources}
    kept = [s.path for s in images if s.name not in held_out]
    clean = _write_clean(kept, folder, out / CLEAN_DIR, corrupt, seed)
    adversarial = {
        o.name: _move_adversarial(o.folder, out / ADVERSARIAL_DIR / o.name, corrupt, seed)
        for o in run.attacked
        if o.folder is not None
    }
    shutil.rmtree(staging, ignore_errors=True)
    return DetectionBuild(clean, adversarial, run)


def _adversarial_suite(suite: Suite) -> Suite:
    entries = [e for e in suite.entries if e.attack.family is not Family.CORRUPTION]
    if not entries:
        raise UsageError(f"suite {suite.name} has no adversarial attack (only corruptions)")
    every = len(entries)
    shared = tuple(
        Entry(e.attack, e.budget, every, k) for k, e in enumerate(entries)
    )  # each attack gets its own share of the sources
    return dataclasses.replace(suite, entries=shared, max_images=None)


def _surrogate_labels(
    surrogate: Path, paths: list[Path], profile: Profile, threads: int | None
) -> np.ndarray:
    try:
        runner = Runner(surrogate, threads)
    except RuntimeFailure as exc:
        raise UsageError(f"{surrogate}: {exc.reason}") from None
    found = []
    for start in range(0, len(paths), 16):
        batch = np.stack(
            [load_image(p, profile.input_size, profile.resize, profile.channel_order)
             for p in paths[start : start + 16]]
        )  # fmt: skip
        try:
            found.append(predict(runner.run(batch)))
        except RuntimeFailure as exc:
            raise UsageError(f"{surrogate}: {exc.reason}") from None
    return np.concatenate(found) if found else np.empty(0, np.int64)


def _native_levels(path: Path) -> np.ndarray:
    """3 x H x W RGB levels at the image's own size (a benign change keeps the resolution)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), np.float64).transpose(2, 0, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None


def _write_clean(paths: list[Path], source: Path, folder: Path, corrupt: float, seed: int) -> int:
    prepare_folder(folder)
    names = [p.relative_to(source).as_posix() for p in paths]
    changes = benign.assign(names, corrupt, seed, CLEAN_DIR)
    rows, taken = [], set[str]()
    for path, name, change in zip(paths, names, changes, strict=True):
        if change is None:
            target = name.replace("/", "__")
            taken.add(target)
            shutil.copyfile(path, folder / target)
        else:
            target = png_name(name, taken)
            levels = benign.apply(_native_levels(path), change, image_seed(seed, change, name))
            write_png(folder / target, levels)
        rows.append((target, change or NO_CORRUPTION))
    _write_manifest(folder, rows)
    return len(rows)


def _move_adversarial(staged: Path, folder: Path, corrupt: float, seed: int) -> int:
    prepare_folder(folder)
    names = sorted(p.name for p in staged.glob("*.png"))
    changes = benign.assign(names, corrupt, seed, folder.name)
    rows = []
    for name, change in zip(names, changes, strict=True):
        if change is None:
            shutil.move(staged / name, folder / name)
        else:
            levels = _native_levels(staged / name)
            write_png(folder / name, benign.apply(levels, change, image_seed(seed, change, name)))
        rows.append((name, change or NO_CORRUPTION))
    _write_manifest(folder, rows)
    return len(rows)


def _write_manifest(folder: Path, rows: list[tuple[str, str]]) -> None:
    try:
        with (folder / MANIFEST).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(("file", "corruption"))
            writer.writerows(rows)
    except OSError as exc:
        raise DataError(f"cannot write {folder / MANIFEST}: {exc.strerror or exc}") from None
