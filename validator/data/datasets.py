"""Dataset roots: where the images of each set are, what their labels are, and what is wrong.

A dataset root holds one clean set and any number of attacked sets::

    ROOT/clean/              the clean set
    ROOT/attacked/<name>/    one folder per attacked set (sorted by name)

A set is a folder of images with a ``label.txt`` in the official format (``<image name> <label>``
per line; the name may contain spaces, the label is the last field) or, without one, one
sub-folder per class. Class folders whose names are all whole numbers take that number as the
label (so ``2`` sorts before ``10``); otherwise the sorted folder names give the class indices.
Images are the files with an image suffix (.png .jpg .jpeg .bmp .webp .tif .tiff, any case);
hidden files and folders (``.name``) are ignored.

Listing a set reads no image: only names and labels are kept (a few hundred bytes per image), so
the images themselves can be streamed. Problems that concern one image (a label out of range, a
label line naming a missing file, an image with no label) raise DataError naming the file, or,
when the caller asks to skip bad images, are recorded in ``ImageSet.skipped``. A label file that
is not in the format at all is always an error. Only the first MAX_LISTED problems of a set are
kept (with the count of the others), so a listing of a million missing files stays small.

Everything a set lists must stay inside the folder given: a label-file name with ``..`` or an
absolute path, or a symlink (image, class folder, set folder) resolving outside, is refused
and named; a class folder must resolve strictly inside its set.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from validator.data.labels import label_lines, parse_label
from validator.data.samples import IMAGE_SUFFIXES
from validator.errors import DataError
from validator.files import resolves_inside

LABEL_FILE = "label.txt"
CLEAN_DIR = "clean"
MAX_LISTED = 20  # problems kept per set; the others are only counted
ATTACKED_DIR = "attacked"


class SetKind(str, enum.Enum):
    """Whether a set counts towards the clean or the attacked accuracy."""

    CLEAN = "clean"
    ATTACKED = "attacked"


class LabelSource(str, enum.Enum):
    """Where the labels of a set come from (shown in the report)."""

    LABEL_FILE = "label.txt"
    NUMBERED_FOLDERS = "class folders (numeric names)"
    SORTED_FOLDERS = "class folders (sorted names)"


@dataclass(frozen=True)
class Sample:
    """One image to score: its file, its name within the set, and its label."""

    path: Path
    name: str
    label: int


@dataclass(frozen=True)
class BadImage:
    """An image left out of scoring (only with skipping on) and why."""

    path: Path
    set_name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """``{"path", "set", "reason"}`` for the report."""
        return {"path": str(self.path), "set": self.set_name, "reason": self.reason}


@dataclass(frozen=True)
class ImageSet:
    """A listed set: the images to score in a fixed order, and what was skipped while listing."""

    name: str
    kind: SetKind
    folder: Path
    samples: tuple[Sample, ...]
    labels: LabelSource
    skipped: tuple[BadImage, ...] = ()
    unlisted: int = 0  # further images skipped while listing, counted but not kept


@dataclass(frozen=True)
class Dataset:
    """A dataset root with its sets, clean first then attacked sets by name."""

    root: Path
    sets: tuple[ImageSet, ...]
    ignored: tuple[Path, ...] = ()  # top-level folders that are neither clean/ nor attacked/

    @property
    def attacked(self) -> tuple[ImageSet, ...]:
        """The attacked sets (possibly none)."""
        return tuple(s for s in self.sets if s.kind is SetKind.ATTACKED)


class _Problems:
    """Collects the bad images of a set: the first MAX_LISTED, and the count of all. Without
    skipping, ``close`` raises one DataError naming the first and counting the rest."""

    def __init__(self, set_name: str, skip: bool) -> None:
        self.set_name, self.skip = set_name, skip
        self.found: list[BadImage] = []
        self.count = 0

    def report(self, path: Path | str, reason: str) -> None:
        self.count += 1  # only the first MAX_LISTED are kept: a listing may hold millions
        if len(self.found) < MAX_LISTED:
            self.found.append(BadImage(Path(path), self.set_name, reason))

    def close(self) -> None:
        if self.skip or not self.found:
            return
        first = self.found[0]
        more = f"and {self.count - 1} more in set {self.set_name}; " if self.count > 1 else ""
        raise DataError(f"{first.path}: {first.reason} ({more}--skip-bad-images scores without it)")


class _Inside:
    """Refuses paths that resolve outside ``root`` (a symlink leading out), checking each folder
    once and each file only when it is a symlink (one lstat: a listing may hold millions)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[str, bool] = {}

    def check(self, path: Path | str) -> None:
        text = os.fspath(path)
        self.check_folder(os.path.dirname(text))
        if os.path.islink(text):
            self.check_link(text)

    def check_folder(self, folder: str) -> None:
        """Refuse ``folder`` when it resolves outside the root (checked once per folder)."""
        inside = self.folders.get(folder)
        if inside is None:
            inside = self.folders[folder] = resolves_inside(Path(folder), self.root)
        if not inside:
            raise DataError(f"{folder}: a symlink leads outside the data folder {self.root}")

    def check_link(self, link: str) -> None:
        """Refuse the symlink ``link`` when it resolves outside the root."""
        if not resolves_inside(Path(link), self.root):
            raise DataError(f"{link}: a symlink leading outside the data folder {self.root}")


class _Entries:
    """What the folders named by a label file hold: one scandir per folder, then a dictionary
    lookup per listed image instead of two system calls (a listing may name millions)."""

    def __init__(self, base: str, inside: _Inside) -> None:
        self.base, self.inside = base, inside
        self.folders: dict[str, dict[str, tuple[bool, bool]]] = {}

    def existing(self, name: str) -> str | None:
        """The full path of the listed image ``name`` when it is a file, else None; a symlink
        leading outside the data folder raises DataError."""
        folder, _, leaf = name.rpartition("/")
        entries = self.folders.get(folder)
        if entries is None:
            entries = self.folders[folder] = self._scan(folder)
        full = os.path.join(self.base, name)
        is_file, is_link = entries.get(leaf, (False, False))
        if is_link:
            self.inside.check_link(full)
        return full if is_file else None

    def _scan(self, folder: str) -> dict[str, tuple[bool, bool]]:
        path = os.path.join(self.base, folder) if folder else self.base
        self.inside.check_folder(path)
        try:
            with os.scandir(path) as found:
                return {e.name: (e.is_file(), e.is_symlink()) for e in found}
        except OSError:  # missing, or not a folder: every image listed in it is missing
            return {}


def open_dataset(root: Path, num_classes: int, *, skip_bad_images: bool = False) -> Dataset:
    """List every set under ``root`` and check every label against ``num_classes``.

    Raises DataError naming the file for a missing root, a missing clean set, a malformed label
    file, an unreadable folder, and (unless ``skip_bad_images``) for each bad image."""
    root = Path(root)
    try:
        return _open(root, num_classes, skip_bad_images)
    except OSError as exc:  # e.g. a folder without read permission
        where = exc.filename or root
        raise DataError(f"{where}: cannot read ({exc.strerror or exc})") from None


def _open(root: Path, num_classes: int, skip_bad_images: bool) -> Dataset:
    if not root.is_dir():
        raise DataError(f"{root}: {'not a folder' if root.exists() else 'no such dataset folder'}")
    clean = root / CLEAN_DIR
    if not clean.is_dir():
        hint = (
            "; it looks like a single set: put it in clean/ (and attacked sets in attacked/<name>/)"
            if (root / LABEL_FILE).is_file()
            else ""
        )
        raise DataError(
            f"{root}: no {CLEAN_DIR}/ set (expected {CLEAN_DIR}/ and "
            f"{ATTACKED_DIR}/<name>/ folders){hint}"
        )
    sets = [list_set(clean, CLEAN_DIR, SetKind.CLEAN, num_classes, skip_bad_images, root)]
    for folder in _attacked_folders(root / ATTACKED_DIR):
        sets.append(
            list_set(folder, folder.name, SetKind.ATTACKED, num_classes, skip_bad_images, root)
        )
    ignored = tuple(p for p in subfolders(root) if p.name not in (CLEAN_DIR, ATTACKED_DIR))
    return Dataset(root, tuple(sets), ignored)


def _attacked_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    if (folder / LABEL_FILE).is_file() or any(_image_files(folder)):
        raise DataError(
            f"{folder}: holds images directly; put each attacked set in its own "
            f"folder, {folder}/<name>/"
        )
    return subfolders(folder)


def list_set(
    folder: Path,
    name: str,
    kind: SetKind,
    num_classes: int,
    skip_bad_images: bool = False,
    root: Path | None = None,
) -> ImageSet:
    """List one set: ``label.txt`` if present, else class sub-folders. Every file must resolve
    inside ``root`` (default: the set's folder)."""
    problems = _Problems(name, skip_bad_images)
    inside = _Inside(root if root is not None else folder)
    inside.check(folder / LABEL_FILE)
    if os.path.lexists(folder / LABEL_FILE):  # a FIFO or folder here is refused, not skipped
        samples = _from_label_file(folder, num_classes, problems, inside)
        source = LabelSource.LABEL_FILE
    else:
        samples, source = _from_class_folders(folder, num_classes, problems, inside)
    problems.close()
    if not samples and not problems.found:
        raise DataError(f"{folder}: no images (expected {LABEL_FILE} or class sub-folders)")
    unlisted = problems.count - len(problems.found)
    return ImageSet(name, kind, folder, tuple(samples), source, tuple(problems.found), unlisted)


def _from_label_file(
    folder: Path, num_classes: int, problems: _Problems, inside: _Inside
) -> list[Sample]:
    label_file = folder / LABEL_FILE
    entries = _Entries(os.fspath(folder), inside)  # strings, not Paths, until an image is kept
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    for lineno, name, label in label_lines(label_file):
        if name in first_line:
            where = f"{label_file}:{lineno}"
            raise DataError(f"{where}: {name} is listed twice (first on line {first_line[name]})")
        first_line[name] = lineno
        full = entries.existing(name)
        if full is None:
            where = f"{label_file}:{lineno}"
            problems.report(os.path.join(entries.base, name), f"missing, but listed in {where}")
        elif not 0 <= label < num_classes:
            where = f"{label_file}:{lineno}"
            problems.report(full, f"{_range_reason(label, num_classes)} ({where})")
        else:
            samples.append(Sample(Path(full), name, label))
    for path in _image_files(folder):
        if path.name not in first_line:
            problems.report(path, f"image has no label in {LABEL_FILE}")
    return samples


def _from_class_folders(
    folder: Path, num_classes: int, problems: _Problems, inside: _Inside
) -> tuple[list[Sample], LabelSource]:
    classes = subfolders(folder)
    if not classes:
        raise DataError(f"{folder}: no {LABEL_FILE} and no class sub-folders")
    for class_dir in classes:  # a link to '..' or a sibling would list another set's images
        if not resolves_inside(class_dir, folder) or class_dir.resolve() == folder.resolve():
            raise DataError(f"{class_dir}: class folder is a symlink leading outside {folder}")
    numbers = [parse_label(c.name) for c in classes]
    numbered = all(n is not None for n in numbers)
    source = LabelSource.NUMBERED_FOLDERS if numbered else LabelSource.SORTED_FOLDERS
    samples: list[Sample] = []
    for index, (class_dir, number) in enumerate(zip(classes, numbers, strict=True)):
        label = number if number is not None and numbered else index
        for path in _image_files(class_dir):
            inside.check(path)
            name = f"{class_dir.name}/{path.name}"
            if 0 <= label < num_classes:
                samples.append(Sample(path, name, label))
            else:
                problems.report(
                    path, _range_reason(label, num_classes) + f" (folder {class_dir.name}/)"
                )
    for path in _image_files(folder):
        problems.report(path, "image has no label (not inside a class folder)")
    return samples, source


def _range_reason(label: int, num_classes: int) -> str:
    return f"label {label} is out of range 0-{num_classes - 1}"


def subfolders(folder: Path) -> list[Path]:
    """Non-hidden sub-folders, sorted by name (so the order is the same on every machine)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    """Non-hidden files with an image suffix directly in ``folder``, sorted by name (hidden files
    such as macOS's ``._name.png`` shadows are not images)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
