"""Build the attacked reference sets from a profile's clean set and its baseline.

Each set is ``<root>/attacked/<name>/`` holding PNGs (lossless), ``label.txt`` and ``manifest.csv``
(per-image parameters). Attacked image ``NNNNN.png`` is made from clean image ``NNNNN.png``; every
set uses the first ``--count`` clean images (class ``i % num_classes``, so balanced).

* ``pgd-linf-8``: white-box L-inf PGD against the baseline, eps 8/255, step 2/255, 20 steps,
  random start; computed in the stored 64 x 64 image space and forwarded through a
  differentiable copy of the loader (Pillow-exact bilinear weights) and of the exported ONNX
  graph; then rounded to uint8 (still within 8/255 of the clean pixels).
* ``corruptions``: 13 numpy corruptions x 5 severities (see corrupt.py), assigned in rotation.
* ``patch``: one universal adversarial patch (square, ~12 % of the image area) optimised against
  the baseline (Adam, expectation over random positions, on fresh generated images of the
  training distribution, never the test images), pasted at a random position per image.
* ``light``: adversarial laser beam (after Duan et al., CVPR 2021): an additive beam of the colour
  of a wavelength, with angle, offset, width and intensity chosen per image by a black-box random
  search (random candidates, then local refinement) that minimises the baseline's true-class
  margin, queried through the real loader and onnxruntime.

Run from the repository root, after generate.py and train_baseline.py::

    python reference_data/scripts/make_attacked.py --profile final
    python reference_data/scripts/make_attacked.py --profile preliminary
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import common
import corrupt
from common import PROFILES, ProfileSpec
from evaluate import ATTACKED_SETS, OnnxClassifier, set_accuracy
from generate import generate_images
from torch_utils import StoredImageModel, hwc_uint8_to_tensor, setup_torch, tensor_to_hwc_uint8

DEFAULT_COUNT = {"final": 300, "preliminary": 100}

Rows = list[list[Any]]


# --------------------------------------------------------------------------------------------
# PGD
# --------------------------------------------------------------------------------------------


def pgd_linf(
    model: StoredImageModel,
    images: np.ndarray,
    labels: np.ndarray,
    eps: int = 8,
    step: int = 2,
    steps: int = 20,
    seed: int = 0,
    batch: int = 50,
) -> tuple[np.ndarray, Rows]:
    """Untargeted L-inf PGD (cross-entropy ascent, random start); ``eps``/``step`` in 1/255."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for s in range(0, len(images), batch):
        x0 = hwc_uint8_to_tensor(images[s : s + batch])
        y = torch.from_numpy(labels[s : s + batch])
        e, a = eps / 255, step / 255
        delta = (torch.rand(x0.shape, generator=gen) * 2 - 1) * e
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model((x0 + delta).clamp(0, 1)), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            delta = (delta.detach() + a * grad.sign()).clamp(-e, e)
            delta = (x0 + delta).clamp(0, 1) - x0
        out.append(tensor_to_hwc_uint8(x0 + delta))
    adv = np.concatenate(out)
    linf = np.abs(adv.astype(int) - images.astype(int)).max(axis=(1, 2, 3))
    rows: Rows = [[int(d)] for d in linf]
    return adv, rows


# --------------------------------------------------------------------------------------------
# Corruptions
# --------------------------------------------------------------------------------------------


def corruptions(
    profile: ProfileSpec, images: np.ndarray, seed: int
) -> tuple[np.ndarray, Rows]:
    """Image ``i`` gets corruption ``i % 13`` at severity ``1 + (i // 13) % 5``."""
    names = list(corrupt.CORRUPTIONS)
    out: list[np.ndarray] = []
    rows: Rows = []
    for i, img in enumerate(images):
        name = names[i % len(names)]
        severity = 1 + (i // len(names)) % 5
        rng = common.image_seed(seed, profile, common.STREAM_CORRUPT, i)
        out.append(corrupt.apply(name, img, severity, rng))
        rows.append([name, severity])
    return np.stack(out), rows


# --------------------------------------------------------------------------------------------
# Adversarial patch
# --------------------------------------------------------------------------------------------


def paste(x: torch.Tensor, patch: torch.Tensor, pos: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Paste ``patch`` (3, s, s) into each image of ``x`` (N, 3, H, W) at (top, left) ``pos``."""
    _, _, h, w = x.shape
    s = patch.shape[-1]
    outs = []
    for img, (top, left) in zip(x, pos, strict=True):
        pad = (left, w - left - s, top, h - top - s)
        canvas = F.pad(patch, pad)
        mask = F.pad(torch.ones(1, s, s), pad)
        outs.append(img * (1 - mask) + canvas)
    return torch.stack(outs)


def random_positions(
    rng: np.random.Generator, n: int, size: int, side: int
) -> list[tuple[int, int]]:
    """``n`` uniformly random (top, left) corners keeping the patch inside the image."""
    return [(int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1)))
            for _ in range(n)]


def train_patch(
    model: StoredImageModel,
    profile: ProfileSpec,
    side: int,
    seed: int,
    n_images: int,
    iterations: int,
    batch: int = 32,
) -> torch.Tensor:
    """A universal untargeted patch: maximise the cross-entropy over images and positions."""
    images, labels = generate_images(profile, seed, common.STREAM_PATCH, range(n_images),
                                     workers=2)
    x_all, y_all = hwc_uint8_to_tensor(images), torch.from_numpy(labels)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    raw = torch.randn(3, side, side, generator=gen).requires_grad_(True)  # patch = sigmoid(raw)
    opt = torch.optim.Adam([raw], lr=0.1)
    size = images.shape[1]
    for it in range(iterations):
        idx = torch.randint(0, n_images, (batch,), generator=gen)
        pos = random_positions(rng, batch, size, side)
        logits = model(paste(x_all[idx], torch.sigmoid(raw), pos))
        # Untargeted: push the true-class log-probability down (bounded, unlike raw CE).
        loss = -F.cross_entropy(logits, y_all[idx]).clamp(max=10.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % 100 == 0:
            acc = float((logits.argmax(1) == y_all[idx]).float().mean())
            print(f"  patch iteration {it + 1}: batch accuracy {acc:.2f}", flush=True)
    return torch.sigmoid(raw.detach())


def patch_set(
    model: StoredImageModel,
    profile: ProfileSpec,
    images: np.ndarray,
    seed: int,
    area: float,
    iterations: int,
) -> tuple[np.ndarray, Rows, np.ndarray]:
    """Paste a universal patch of ``area`` x image area at a random position in each image."""
    size = images.shape[1]
    side = round(math.sqrt(area) * size)
    patch = train_patch(model, profile, side, seed, n_images=2000, iterations=iterations)
    rng = np.random.default_rng(np.random.SeedSequence([seed, profile.profile_id,
                                                        common.STREAM_PATCH, 10**6]))
    pos = random_positions(rng, len(images), size, side)
    with torch.no_grad():
        out = tensor_to_hwc_uint8(paste(hwc_uint8_to_tensor(images), patch, pos))
    rows: Rows = [[top, left, side] for top, left in pos]
    return out, rows, tensor_to_hwc_uint8(patch[None])[0]


# --------------------------------------------------------------------------------------------
# Adversarial light (laser beam)
# --------------------------------------------------------------------------------------------

BEAM_RANGES = {
    "wavelength": (380.0, 750.0),  # nm
    "angle": (0.0, 180.0),  # degrees, direction of the beam
    "offset": (-0.45, 0.45),  # signed distance of the beam axis from the centre / image side
    "width": (0.02, 0.09),  # Gaussian half-width / image side
    "intensity": (0.5, 1.0),  # peak added light
}


def wavelength_to_rgb(nm: float) -> np.ndarray:
    """Visible wavelength (380-750 nm) -> RGB in [0, 1] (Bruton's approximation, gamma 0.8)."""
    if nm < 440:
        rgb = (-(nm - 440) / 60, 0.0, 1.0)
    elif nm < 490:
        rgb = (0.0, (nm - 440) / 50, 1.0)
    elif nm < 510:
        rgb = (0.0, 1.0, -(nm - 510) / 20)
    elif nm < 580:
        rgb = ((nm - 510) / 70, 1.0, 0.0)
    elif nm < 645:
        rgb = (1.0, -(nm - 645) / 65, 0.0)
    else:
        rgb = (1.0, 0.0, 0.0)
    if nm < 420:
        f = 0.3 + 0.7 * (nm - 380) / 40
    elif nm > 700:
        f = 0.3 + 0.7 * (750 - nm) / 50
    else:
        f = 1.0
    return np.array([(f * c) ** 0.8 if c > 0 else 0.0 for c in rgb])


def beam(img: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Add a laser beam with parameters ``p`` to an (H, W, 3) uint8 image; returns uint8."""
    size = img.shape[0]
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    a = math.radians(p["angle"])
    d = -x * math.sin(a) + y * math.cos(a) - p["offset"]  # distance to the beam axis
    profile = p["intensity"] * np.exp(-0.5 * (d / p["width"]) ** 2)
    out = img / 255 + profile[..., None] * wavelength_to_rgb(p["wavelength"])
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


def random_beam(rng: np.random.Generator) -> dict[str, float]:
    """Beam parameters drawn uniformly from :data:`BEAM_RANGES`."""
    return {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in BEAM_RANGES.items()}


def perturb_beam(rng: np.random.Generator, p: dict[str, float], scale: float) -> dict[str, float]:
    """A neighbour of ``p``: Gaussian step of ``scale`` x range per parameter, clipped."""
    out = {}
    for k, (lo, hi) in BEAM_RANGES.items():
        v = p[k] + rng.normal(0, scale * (hi - lo))
        out[k] = float(np.clip(v, lo, hi)) if k != "angle" else float(v % 180.0)
    return out


def margins(model: OnnxClassifier, images: Sequence[np.ndarray], label: int) -> np.ndarray:
    """True-class margin (logit of ``label`` minus best other logit) through the real loader."""
    logits = model.logits(np.stack([common.array_to_input(im) for im in images]))
    true = logits[:, label].copy()
    logits[:, label] = -np.inf
    return true - logits.max(axis=1)


def light_set(
    model: OnnxClassifier,
    profile: ProfileSpec,
    images: np.ndarray,
    labels: np.ndarray,
    seed: int,
    candidates: int,
    refinements: int,
) -> tuple[np.ndarray, Rows]:
    """Per image: ``candidates`` random beams, then ``refinements`` local steps from the best."""
    out: list[np.ndarray] = []
    rows: Rows = []
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        rng = common.image_seed(seed, profile, common.STREAM_LIGHT, i)
        params = [random_beam(rng) for _ in range(candidates)]
        m = margins(model, [beam(img, p) for p in params], int(label))
        best_p, best_m = params[int(m.argmin())], float(m.min())
        for r in range(0, refinements, 8):
            scale = 0.1 * (1 - r / max(refinements, 1)) + 0.02
            cand = [perturb_beam(rng, best_p, scale) for _ in range(min(8, refinements - r))]
            cm = margins(model, [beam(img, p) for p in cand], int(label))
            if cm.min() < best_m:
                best_p, best_m = cand[int(cm.argmin())], float(cm.min())
        out.append(beam(img, best_p))
        rows.append([round(best_p[k], 4) for k in BEAM_RANGES] + [round(best_m, 4)])
    return np.stack(out), rows


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

MANIFEST_HEADER = {
    "pgd-linf-8": ["linf_255"],
    "corruptions": ["corruption", "severity"],
    "patch": ["top", "left", "side"],
    "light": [*BEAM_RANGES, "margin"],
}


def build_set(
    name: str, profile: ProfileSpec, root: Path, count: int, seed: int, args: argparse.Namespace
) -> Path:
    """Build attacked set ``name`` of a profile and write it; returns its folder."""
    names, images, labels = common.read_set(root / "clean")
    names, images, labels = names[:count], images[:count], labels[:count]
    onnx_path = root / "baseline.onnx"
    folder = root / "attacked" / name
    if name == "pgd-linf-8":
        adv, rows = pgd_linf(StoredImageModel(onnx_path), images, labels,
                             steps=args.pgd_steps, seed=seed)
    elif name == "corruptions":
        adv, rows = corruptions(profile, images, seed)
    elif name == "patch":
        adv, rows, _ = patch_set(StoredImageModel(onnx_path), profile, images, seed,
                                 args.patch_area, args.patch_iterations)
    elif name == "light":
        adv, rows = light_set(OnnxClassifier(onnx_path), profile, images, labels, seed,
                              args.light_candidates, args.light_refinements)
    else:
        raise ValueError(name)
    common.write_set(folder, names, adv, labels)
    common.write_csv(folder / "manifest.csv", ["file", "label", *MANIFEST_HEADER[name]],
                     ([n, int(lab), *r] for n, lab, r in zip(names, labels, rows, strict=True)))
    return folder


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", choices=list(PROFILES), default="final")
    p.add_argument("--out", type=Path, default=None,
                   help="data-set root (default: reference_data/<profile>)")
    p.add_argument("--seed", type=int, default=2022, help="attack seed")
    p.add_argument("--sets", nargs="+", default=list(ATTACKED_SETS), choices=ATTACKED_SETS)
    p.add_argument("--count", type=int, default=None,
                   help="images per set (default: final 300, preliminary 100)")
    p.add_argument("--pgd-steps", type=int, default=20)
    p.add_argument("--patch-area", type=float, default=0.12, help="patch area / image area")
    p.add_argument("--patch-iterations", type=int, default=500)
    p.add_argument("--light-candidates", type=int, default=64)
    p.add_argument("--light-refinements", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the requested attacked sets and report the baseline's accuracy on each."""
    args = parse_args(argv)
    profile = PROFILES[args.profile]
    root = args.out or profile.root
    count = args.count or DEFAULT_COUNT[profile.name]
    setup_torch(args.threads)
    classifier = OnnxClassifier(root / "baseline.onnx", args.threads)
    c, t = set_accuracy(classifier, root / "clean")
    print(f"{profile.name}: clean accuracy {c}/{t} = {c / t:.3f}")
    for name in args.sets:
        t0 = time.time()
        folder = build_set(name, profile, root, count, args.seed, args)
        c, t = set_accuracy(classifier, folder)
        print(f"{profile.name}/{name}: accuracy {c}/{t} = {c / t:.3f} "
              f"({time.time() - t0:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
