"""Track 2 data sets: which images are adversarial, which set and corruption each belongs to.

Two layouts are read::

    ROOT/clean/                  clean images (label 0)
    ROOT/adversarial/<name>/     one folder per adversarial set (label 1), sorted by name

where a set's ``label.txt`` is optional (it lists the images; its class labels are ignored, since
classes do not matter to a detector), or::

    ROOT/label.txt               one set: ``<image name> 1`` (adversarial) or ``0`` (clean)

Without ``label.txt`` a set is its image files, or those of its sub-folders when it holds none
directly (class folders). An optional ``manifest.csv`` beside the images names, per ``file``, its
``corruption`` (a benign change such as blur or brightness; empty or ``none`` for none) and, in
the single-set layout, its ``attack`` (the adversarial set it belongs to). Listing reads no image.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from validator.data.datasets import LABEL_FILE, subfolders
from validator.data.labels import label_lines
from validator.data.samples import IMAGE_SUFFIXES
from validator.errors import DataError

CLEAN_DIR = "clean"
ADVERSARIAL_DIR = "adversarial"
MANIFEST = "manifest.csv"
NO_CORRUPTION = "none"
SINGLE_SET = "test"
_MAX_MANIFEST_BYTES = 64 << 20  # a manifest line per image; far above any real data set


class DetectionKind(str, enum.Enum):
    """What a set holds."""

    CLEAN = "clean"
    ADVERSARIAL = "adversarial"
    MIXED = "mixed"  # the single-set layout: label.txt says which image is which


@dataclass(frozen=True)
class DetectionSample:
    """One image: its file, its name in the set, 1 adversarial / 0 clean, and its groups."""

    path: Path
    name: str
    label: int
    corruption: str = NO_CORRUPTION
    attack: str = ""  # the adversarial set (its folder, or the manifest's attack column)


@dataclass(frozen=True)
class DetectionSet:
    """A listed set, images in a fixed order."""

    name: str
    kind: DetectionKind
    folder: Path
    samples: tuple[DetectionSample, ...]


@dataclass(frozen=True)
class DetectionData:
    """A Track 2 data set: its sets (clean first) and the layout it was read from."""

    root: Path
    sets: tuple[DetectionSet, ...]
    layout: str  # "folders" (clean/ + adversarial/<name>/) or "label.txt" (one 0/1 set)
    ignored: tuple[Path, ...] = ()

    @property
    def samples(self) -> tuple[DetectionSample, ...]:
        """Every image, in set order."""
        return tuple(s for one in self.sets for s in one.samples)


def open_detection_data(root: Path) -> DetectionData:
    """List a Track 2 data set (DataError naming the file when it is not one)."""
    root = Path(root)
    try:
        return _open(root)
    except OSError as exc:
        where = exc.filename or root
        raise DataError(f"{where}: cannot read ({exc.strerror or exc})") from None


def _open(root: Path) -> DetectionData:
    if not root.is_dir():
        raise DataError(f"{root}: {'not a folder' if root.exists() else 'no such dataset folder'}")
    if (root / CLEAN_DIR).is_dir():
        return _folders(root)
    if (root / LABEL_FILE).is_file():
        return _labelled(root)
    raise DataError(
        f"{root}: not a Track 2 data set (expected {CLEAN_DIR}/ and {ADVERSARIAL_DIR}/<name>/ "
        f"folders, or a {LABEL_FILE} giving 1 for adversarial and 0 for clean images)"
    )


def _folders(root: Path) -> DetectionData:
    sets = [_unlabelled_set(root / CLEAN_DIR, CLEAN_DIR, DetectionKind.CLEAN)]
    adversarial = root / ADVERSARIAL_DIR
    if adversarial.is_dir():
        if _images(adversarial):
            raise DataError(
                f"{adversarial}: holds images directly; put each adversarial set in its own "
                f"folder, {adversarial}/<name>/"
            )
        for folder in subfolders(adversarial):
            sets.append(_unlabelled_set(folder, folder.name, DetectionKind.ADVERSARIAL))
    ignored = tuple(p for p in subfolders(root) if p.name not in (CLEAN_DIR, ADVERSARIAL_DIR))
    return DetectionData(root, tuple(sets), "folders", ignored)


def _unlabelled_set(folder: Path, name: str, kind: DetectionKind) -> DetectionSet:
    label = int(kind is DetectionKind.ADVERSARIAL)
    if (folder / LABEL_FILE).is_file():
        names = [n for _, n, _ in label_lines(folder / LABEL_FILE)]
        _require_files(folder, names)
    else:
        names = _image_names(folder)
    if not names:
        raise DataError(f"{folder}: no images")
    corruptions, _ = _manifest(folder)
    attack = name if kind is DetectionKind.ADVERSARIAL else ""
    samples = tuple(
        DetectionSample(folder / n, n, label, corruptions.get(n, NO_CORRUPTION), attack)
        for n in names
    )
    return DetectionSet(name, kind, folder, samples)


def _labelled(root: Path) -> DetectionData:
    label_file = root / LABEL_FILE
    rows = list(label_lines(label_file))
    for lineno, name, label in rows:
        if label not in (0, 1):
            raise DataError(
                f"{label_file}:{lineno}: label {label} for {name}; a Track 2 label is "
                "1 (adversarial) or 0 (clean)"
            )
    if not rows:
        raise DataError(f"{label_file}: lists no image")
    _require_files(root, [name for _, name, _ in rows])
    corruptions, attacks = _manifest(root)
    samples = tuple(
        DetectionSample(
            root / name,
            name,
            label,
            corruptions.get(name, NO_CORRUPTION),
            attacks.get(name, SINGLE_SET) if label else "",
        )
        for _, name, label in rows
    )
    return DetectionData(
        root, (DetectionSet(SINGLE_SET, DetectionKind.MIXED, root, samples),), "label.txt"
    )


def _require_files(folder: Path, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{folder / LABEL_FILE}: {name} is listed twice")
        seen.add(name)
        if not (folder / name).is_file():
            raise DataError(f"{folder / name}: missing, but listed in {folder / LABEL_FILE}")


def _manifest(folder: Path) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """``file -> corruption`` and ``file -> attack`` from ``manifest.csv`` (empty without)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}, {}
    if path.stat().st_size > _MAX_MANIFEST_BYTES:
        raise DataError(f"{path}: larger than {_MAX_MANIFEST_BYTES >> 20} MB")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None
    if rows and "file" not in rows[0]:
        raise DataError(f"{path}: needs a 'file' column (and 'corruption' and/or 'attack')")
    corruption = {r["file"]: (r.get("corruption") or "").strip() or NO_CORRUPTION for r in rows}
    attack = {r["file"]: (r.get("attack") or "").strip() or SINGLE_SET for r in rows}
    return corruption, attack


def _images(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _image_names(folder: Path) -> list[str]:
    direct = [p.name for p in _images(folder)]
    if direct:
        return direct
    return [f"{sub.name}/{p.name}" for sub in subfolders(folder) for p in _images(sub)]
