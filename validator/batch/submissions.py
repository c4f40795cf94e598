"""The entries of a submissions folder: which are submissions, what each one's content hash is,
and why the others are not.

An entry's name is its id. A submission is a regular ``.onnx`` file, or a folder holding exactly
one ``.onnx`` file (anywhere inside) plus its external data, or a ``.zip`` (a PyTorch
submission, evaluated by validator.submission's route when the torch extra is installed;
otherwise invalid, the reason saying what to install). Everything else is listed as invalid
with a reason, never skipped silently: hidden entries, symbolic links (a link could lead
outside the folder given), FIFOs and devices (reading one could hang), names that are not
printable UTF-8, and names the batch's own results use.

Hashing streams the files and never follows a link; a folder's hash covers every file in it.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from validator.files import file_sha256
from validator.loading.errors import show
from validator.submission.route import TORCH_HINT, torch_available

# Names the results folder uses for itself: a submission may not take them.
RESERVED = frozenset({"index.html", "leaderboard.json", "leaderboard.csv", "_cache", "_work"})
MAX_FOLDER_FILES = 10_000  # a model with external data has a few hundred files at most
_NOT_A_SUBMISSION = "not a submission: expected a .onnx file, a folder or a .zip"


def zip_route() -> str | None:
    """The hook for PyTorch zips: None when ``robust-validate check`` can evaluate a ``.zip``
    here (validator.submission's route, which needs the torch extra), else why not (the zip
    is then listed as invalid with that reason)."""
    if torch_available():
        return None
    return TORCH_HINT


@dataclass(frozen=True)
class Entry:
    """One entry of the submissions folder. ``model`` is the file to validate and ``sha256``
    the content hash (of the file, or of a folder's manifest) when it is a submission;
    ``reason`` says why not otherwise."""

    id: str
    path: Path
    model: Path | None = None
    sha256: str | None = None
    reason: str | None = None

    @property
    def valid(self) -> bool:
        """True for a submission (something to evaluate)."""
        return self.model is not None and self.reason is None


def list_submissions(folder: Path) -> list[Entry]:
    """Every entry of ``folder`` in name order, each a submission or invalid with a reason."""
    return [_classify(folder, name) for name in sorted(os.listdir(folder))]


def _classify(folder: Path, name: str) -> Entry:
    path = folder / name
    shown = show(name, 300)
    if shown != name or not _utf8(name):
        return Entry(shown, path, reason="the name is not printable UTF-8")
    if name.startswith("."):
        return Entry(name, path, reason="a hidden entry (its name starts with a dot)")
    if name in RESERVED:
        return Entry(name, path, reason="this name is reserved for the batch's own results")
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return Entry(name, path, reason=f"cannot read it: {exc.strerror or exc}")
    if stat.S_ISLNK(mode):
        return Entry(name, path, reason="a symbolic link (submissions are files or folders)")
    if stat.S_ISDIR(mode):
        return _folder(name, path)
    if not stat.S_ISREG(mode):
        return Entry(name, path, reason="not a regular file or folder")
    return _file(name, path)


def _file(name: str, path: Path) -> Entry:
    suffix = path.suffix.lower()
    if suffix == ".zip" and zip_route() is not None:
        return Entry(name, path, reason=zip_route())
    if suffix not in (".onnx", ".zip"):
        return Entry(
            name, path, reason="not a submission: expected a .onnx file, a folder or a .zip"
        )
    try:
        return Entry(name, path, path, file_sha256(path))
    except OSError as exc:
        return Entry(name, path, reason=f"cannot read it: {exc.strerror or exc}")


def _folder(name: str, path: Path) -> Entry:
    try:
        files = _walk(path)
    except ValueError as exc:
        return Entry(name, path, reason=str(exc))
    except OSError as exc:
        return Entry(name, path, reason=f"cannot read it: {exc.strerror or exc}")
    models = [f for f in files if f.suffix.lower() == ".onnx"]
    if len(models) != 1:
        found = "no .onnx file" if not models else f"{len(models)} .onnx files"
        return Entry(name, path, reason=f"a folder must hold exactly one .onnx model ({found})")
    manifest = hashlib.sha256()
    for file in files:
        relative = file.relative_to(path).as_posix()
        manifest.update(f"{relative}\0{file_sha256(file)}\n".encode())
    return Entry(name, path, models[0], manifest.hexdigest())


def _walk(root: Path) -> list[Path]:
    """Regular files under ``root`` in a stable order; a link or a special file is refused
    (ValueError naming it), since the model could read through it."""
    found: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted([*names, *dirs]):
            path = Path(folder) / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise ValueError(f"holds a symbolic link: {show(str(path.relative_to(root)))}")
            if stat.S_ISREG(mode):
                found.append(path)
            elif not stat.S_ISDIR(mode):
                raise ValueError(f"holds a special file: {show(str(path.relative_to(root)))}")
            if len(found) > MAX_FOLDER_FILES:
                raise ValueError(f"holds more than {MAX_FOLDER_FILES} files")
    return sorted(found)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes come back as lone surrogates
        return False
    return True
