"""Writing attacked sets: PNG images, ``label.txt`` and ``manifest.json``, byte for byte the
same on every run.

PNGs are RGB, 8-bit, written by Pillow with fixed settings and no metadata (no time stamp, no
text chunks); JSON is written with sorted keys, fixed separators and a final newline. Nothing in
a written file depends on the time, the machine's load or the order threads finished in.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from validator.data.datasets import LABEL_FILE
from validator.errors import UsageError, ValidatorError

MANIFEST = "manifest.json"
OUTPUTS = ("clean", "attacked", MANIFEST)  # what an attack run owns under --out
# zlib level 1: lossless like any level, a few percent larger than 6 and ~4x faster to write
# (encoding at level 6 was a quarter of the standard suite); still fixed, so byte-identical.
PNG_SETTINGS: Mapping[str, Any] = {"compress_level": 1, "optimize": False}
PENDING_PNGS = 64  # images waiting for the writing thread, at most (bounds the memory held)


def write_png(path: Path, levels: np.ndarray) -> None:
    """Save one image (3 x H x W levels, RGB) as an 8-bit RGB PNG."""
    array = np.ascontiguousarray(
        np.clip(np.rint(levels), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    )
    try:
        Image.fromarray(array, mode="RGB").save(path, format="PNG", **PNG_SETTINGS)
    except OSError as exc:
        raise ValidatorError(f"cannot write {path}: {exc.strerror or exc}") from None


class BackgroundPngs:
    """write_png on one background thread, off the attack's critical path (zlib and Pillow
    release the GIL while onnxruntime runs the next queries). One writer serves a whole run:
    what finishes a set (its label file, manifest and rename) is queued behind the set's images
    with :meth:`then`, so no set waits for its images before the next set starts. Leaving the
    ``with`` block waits for everything and raises the first error; leaving it on an exception
    cancels what has not started (a set not yet renamed stays hidden)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="png")
        self._pending: deque[Future[None]] = deque()

    def write(self, path: Path, levels: np.ndarray) -> None:
        """Queue one image (``levels`` must not change afterwards)."""
        while len(self._pending) >= PENDING_PNGS:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(write_png, path, levels))

    def then(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the writing thread once everything queued before it is written."""
        self._pending.append(self._pool.submit(task))

    def __enter__(self) -> BackgroundPngs:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            while self._pending and kind is None:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=kind is not None)


def write_labels(folder: Path, names: Sequence[str], labels: Sequence[int]) -> None:
    """``label.txt``: one ``<image> <label>`` line per image, in order."""
    text = "".join(f"{name} {int(label)}\n" for name, label in zip(names, labels, strict=True))
    write_text(folder / LABEL_FILE, text)


def write_json(path: Path, data: Any) -> None:
    """Deterministic JSON (sorted keys, two-space indent, trailing newline)."""
    write_text(
        path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=_plain) + "\n"
    )


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with Unix newlines, replacing the file atomically."""
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(text.encode("utf-8"))
        os.replace(partial, path)
    except OSError as exc:
        raise ValidatorError(f"cannot write {path}: {exc.strerror or exc}") from None


def prepare_folder(folder: Path) -> None:
    """Create ``folder`` (and parents); refuse a path that exists as a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidatorError(f"cannot create {folder}: {exc.strerror or exc}") from None


def png_name(name: str, taken: set[str]) -> str:
    """A flat ``.png`` file name for the clean image ``name`` (which may sit in a class folder),
    unique within ``taken`` (which it joins)."""
    stem = name.rsplit(".", 1)[0] if "." in Path(name).name else name
    base = stem.replace("/", "__").replace("\\", "__")
    candidate, k = f"{base}.png", 1
    while candidate in taken:
        candidate, k = f"{base}~{k}.png", k + 1
    taken.add(candidate)
    return candidate


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def claim_output(out: Path, overwrite: bool, keep: Path | None = None) -> None:
    """Make ``out`` ready for a new run before any work: refuse one that already holds a run's
    outputs unless ``overwrite``, which removes them whole (``clean/``, ``attacked/``,
    ``manifest.json``; nothing else under ``out``), so no set from an older run survives.
    ``keep`` (the input clean set when it lives at ``out/clean``) is never removed."""
    present = [name for name in OUTPUTS if (out / name).exists() or (out / name).is_symlink()]
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if present and not overwrite:
        listed = ", ".join(f"{n}/" if n != MANIFEST else n for n in present)
        raise UsageError(
            f"--out {out} already holds {listed} from an earlier run; pass --overwrite to "
            "replace them, or choose an empty folder"
        )
    for name in present:
        target = out / name
        if keep is not None and target.resolve() == keep.resolve():
            continue
        _remove(target)


def _remove(path: Path) -> None:
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path)
    except OSError as exc:
        raise ValidatorError(f"cannot remove {path}: {exc.strerror or exc}") from None


def publish_folder(partial: Path, final: Path) -> None:
    """Move a fully written set from its hidden staging folder to its final name."""
    try:
        os.replace(partial, final)
    except OSError as exc:
        raise ValidatorError(f"cannot move {partial} to {final}: {exc.strerror or exc}") from None


def discard_folder(folder: Path) -> None:
    """Remove a staging folder left by a set that could not be made."""
    shutil.rmtree(folder, ignore_errors=True)
