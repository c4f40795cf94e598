"""Shared pieces of the reference-data scripts: the loader, the class list, the data-set I/O.

Only numpy and Pillow are imported here, so the loader below can be read (and copied) without torch.

The loader (:func:`prepare_image` / :func:`load_image`) is the single place that turns a stored
image into a model input; it reproduces the validator's loader step by step:
``Image.open -> convert("RGB") -> resize((224, 224), BILINEAR) -> float32 / 255 -> CHW -> BGR``.
Training, the attacks and the evaluation all go through it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

INPUT_SIZE = 224
"""Side of the square model input (pixels)."""

IMAGE_SIZE = 64
"""Side of the stored reference images (pixels); the loader stretches them to ``INPUT_SIZE``."""

REFERENCE_ROOT = Path(__file__).resolve().parent.parent
"""``reference_data/`` inside the repository."""

LABEL_FILE = "label.txt"
CLASSES_FILE = "classes.txt"

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "rhombus",
    "star",
    "cross",
    "crescent",
    "heart",
    "arrow",
    "tee",
)
"""Shape families: the first half of a class."""

PATTERNS: tuple[str, ...] = (
    "solid",
    "stripes",
    "checker",
    "dots",
    "rings",
    "outline",
    "grid",
    "waves",
    "split",
    "spokes",
)
"""Fill patterns (drawn in the object's own rotated frame): the second half of a class."""

PRELIMINARY_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
PRELIMINARY_PATTERNS: tuple[str, ...] = ("solid", "stripes", "checker", "dots")


@dataclass(frozen=True)
class ClassSpec:
    """One class: a shape family combined with a fill pattern."""

    index: int
    shape: str
    pattern: str

    @property
    def name(self) -> str:
        """``shape-pattern``, e.g. ``star-checker``."""
        return f"{self.shape}-{self.pattern}"


@dataclass(frozen=True)
class ProfileSpec:
    """A reference-data profile: its folder name, classes and numeric id (used in seeds)."""

    name: str
    profile_id: int
    classes: tuple[ClassSpec, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes (width of the model output)."""
        return len(self.classes)

    @property
    def root(self) -> Path:
        """Default data-set root, ``reference_data/<name>``."""
        return REFERENCE_ROOT / self.name


def _classes(shapes: Sequence[str], patterns: Sequence[str]) -> tuple[ClassSpec, ...]:
    """Classes in shape-major order: label = shape_index * len(patterns) + pattern_index."""
    return tuple(
        ClassSpec(i * len(patterns) + j, shape, pattern)
        for i, shape in enumerate(shapes)
        for j, pattern in enumerate(patterns)
    )


PROFILES: dict[str, ProfileSpec] = {
    "final": ProfileSpec("final", 1, _classes(SHAPES, PATTERNS)),
    "preliminary": ProfileSpec(
        "preliminary", 2, _classes(PRELIMINARY_SHAPES, PRELIMINARY_PATTERNS)
    ),
}
"""The two bundled profiles: ``final`` (100 classes) and ``preliminary`` (20 classes)."""


# --------------------------------------------------------------------------------------------
# The loader (mirrors the validator exactly).
# --------------------------------------------------------------------------------------------


def prepare_image(img: Image.Image) -> np.ndarray:
    """One PIL image -> model input ``(3, 224, 224)`` float32, pixels in [0, 1], channels BGR.

    Exactly the validator's steps: ``convert("RGB")``, Pillow BILINEAR resize to 224 x 224 (a
    stretch, no crop), ``/ 255`` in float32, HWC -> CHW, RGB -> BGR.
    """
    rgb = img.convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)  # type: ignore[attr-defined]
    arr = np.asarray(rgb, dtype=np.float32) / 255
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[::-1])


def load_image(path: str | Path) -> np.ndarray:
    """Open one image file and run it through :func:`prepare_image`."""
    with Image.open(path) as img:
        return prepare_image(img)


def load_batch(paths: Iterable[str | Path]) -> np.ndarray:
    """Several image files -> ``(N, 3, 224, 224)`` float32 batch (NCHW, BGR, [0, 1])."""
    return np.stack([load_image(p) for p in paths])


def array_to_input(rgb_uint8: np.ndarray) -> np.ndarray:
    """A stored image given as an ``(H, W, 3)`` uint8 RGB array -> model input.

    Equivalent to saving it as PNG (lossless) and calling :func:`load_image`.
    """
    return prepare_image(Image.fromarray(np.ascontiguousarray(rgb_uint8, dtype=np.uint8)))


# --------------------------------------------------------------------------------------------
# Data-set I/O: a folder of PNGs and a label.txt.
# --------------------------------------------------------------------------------------------


def image_name(index: int) -> str:
    """File name of image number ``index``: ``00017.png``."""
    return f"{index:05d}.png"


def read_labels(folder: str | Path) -> list[tuple[str, int]]:
    """``label.txt`` of a set as ``[(file name, label), ...]`` in file order."""
    rows: list[tuple[str, int]] = []
    for line in (Path(folder) / LABEL_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, label = line.split()
            rows.append((name, int(label)))
    return rows


def write_labels(folder: str | Path, rows: Iterable[tuple[str, int]]) -> None:
    """Write ``label.txt``: one ``<file name> <label>`` line per image, ``\\n`` line ends."""
    text = "".join(f"{name} {label}\n" for name, label in rows)
    (Path(folder) / LABEL_FILE).write_text(text, encoding="utf-8", newline="\n")


def write_classes(root: str | Path, profile: ProfileSpec) -> None:
    """Write ``classes.txt`` (``<label> <shape>-<pattern>`` per line) into a data-set root."""
    text = "".join(f"{c.index} {c.name}\n" for c in profile.classes)
    (Path(root) / CLASSES_FILE).write_text(text, encoding="utf-8", newline="\n")


def save_png(path: str | Path, rgb_uint8: np.ndarray) -> None:
    """Save an ``(H, W, 3)`` uint8 RGB array as PNG (lossless, no metadata, deterministic)."""
    img = Image.fromarray(np.ascontiguousarray(rgb_uint8, dtype=np.uint8))
    img.save(path, format="PNG", compress_level=9)


def read_rgb(path: str | Path) -> np.ndarray:
    """A stored image as an ``(H, W, 3)`` uint8 RGB array (no resize)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def read_set(folder: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A whole set at stored resolution: names, ``(N, H, W, 3)`` uint8 images, ``(N,)`` labels."""
    rows = read_labels(folder)
    images = np.stack([read_rgb(Path(folder) / name) for name, _ in rows])
    labels = np.array([label for _, label in rows], dtype=np.int64)
    return [name for name, _ in rows], images, labels


def write_set(
    folder: str | Path,
    names: Sequence[str],
    images: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
) -> None:
    """Write PNGs and ``label.txt`` into ``folder`` (created; stale PNGs are removed first)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    for name, img in zip(names, images, strict=True):
        save_png(out / name, np.asarray(img, dtype=np.uint8))
    write_labels(out, zip(names, (int(x) for x in labels), strict=True))


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a small CSV file (``\\n`` line ends)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def batched(items: Sequence[int] | range, size: int) -> Iterator[Sequence[int]]:
    """Consecutive chunks of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def image_seed(seed: int, profile: ProfileSpec, stream: int, index: int) -> np.random.Generator:
    """The random generator of one image: a function of (seed, profile, stream, index) only.

    ``stream`` separates uses of the same seed (0 = test images, 1 = training images,
    10+ = attacks), so test and training images never share a generator.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, profile.profile_id, stream, index]))


STREAM_TEST = 0
STREAM_TRAIN = 1
STREAM_CORRUPT = 10
STREAM_PATCH = 11
STREAM_LIGHT = 12
STREAM_PGD = 13
