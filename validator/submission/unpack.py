"""Safe unpacking of a PyTorch submission (a zip holding ``model.py`` at its top level).

The zip is untrusted: every member is checked before anything is written. Refused: absolute or
``..`` paths, drive letters and backslashes, symbolic links and other non-regular members (by
the Unix mode in ``external_attr``), more than ``max_members`` members, a declared total above
``max_total_bytes``, a member whose compression ratio is above ``max_ratio`` (a zip bomb), and
encrypted members. Sizes are enforced while writing as well, since the declared ones may lie.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from validator.units import size_bytes

ENTRY = "model.py"
REZIP_HINT = "re-zip the folder's contents, not the folder: cd folder && zip -r ../x.zip *"
_CHUNK = 1 << 20


class UnpackError(Exception):
    """The zip cannot be unpacked safely, or does not hold what the platform demands."""


@dataclass(frozen=True)
class UnpackLimits:
    """Caps on what one submission may unpack to."""

    max_members: int = 10_000
    max_total_bytes: int = 2 * 2**30
    max_ratio: float = 200.0  # uncompressed / compressed per member (+ 1 MiB grace)


def unpack(zip_path: Path, folder: Path, limits: UnpackLimits | None = None) -> int:
    """Unpack ``zip_path`` into the (existing, empty, private) ``folder``; the bytes written.
    Raises UnpackError with one line saying what is wrong."""
    limits = limits or UnpackLimits()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
            _check_members(members, limits)
            written = sum(_extract(archive, m, folder, limits) for m in members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise UnpackError(f"not a readable zip file: {exc}") from None
    except OSError as exc:
        raise UnpackError(f"cannot unpack: {exc.strerror or exc}") from None
    _check_entry(folder)
    return written


def _check_members(members: list[zipfile.ZipInfo], limits: UnpackLimits) -> None:
    if len(members) > limits.max_members:
        raise UnpackError(f"{len(members)} members, more than the cap of {limits.max_members}")
    total = sum(m.file_size for m in members)
    if total > limits.max_total_bytes:
        cap = size_bytes(limits.max_total_bytes)
        raise UnpackError(f"unpacks to {size_bytes(total)}, more than the cap of {cap}")
    for member in members:
        _check_member(member, limits)


def _check_member(member: zipfile.ZipInfo, limits: UnpackLimits) -> None:
    name = member.filename
    shown = name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")[:200]
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or (parts and ":" in parts[0]) or ".." in parts:
        raise UnpackError(f"member {shown!r} points outside the folder (absolute or '..' path)")
    file_type = stat.S_IFMT(member.external_attr >> 16)  # 0: no Unix mode, or permissions only
    if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
        kind = "a symbolic link" if file_type == stat.S_IFLNK else "not a regular file"
        raise UnpackError(f"member {shown!r} is {kind}; only files and folders are accepted")
    if member.flag_bits & 0x1:
        raise UnpackError(f"member {shown!r} is encrypted")
    if member.file_size > limits.max_ratio * member.compress_size + _CHUNK:
        raise UnpackError(
            f"member {shown!r} expands {member.file_size / max(member.compress_size, 1):.0f}"
            f" times (cap {limits.max_ratio:g}): a zip bomb?"
        )


def _extract(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, folder: Path, limits: UnpackLimits
) -> int:
    target = folder.joinpath(*PurePosixPath(member.filename).parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    cap = member.file_size  # the declared size, already within the caps
    written = 0
    with archive.open(member) as source, open(target, "xb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > cap:
                raise UnpackError(f"member {member.filename[:200]!r} is larger than declared")
            sink.write(chunk)
    return written


def _check_entry(folder: Path) -> None:
    if (folder / ENTRY).is_file():
        return
    tops = [p for p in folder.iterdir() if p.is_dir() and (p / ENTRY).is_file()]
    if tops:
        raise UnpackError(
            f"model.py is in the folder {tops[0].name!r}, not at the top; {REZIP_HINT}"
        )
    raise UnpackError(f"no model.py at the top level of the zip; {REZIP_HINT}")


def remove(folder: Path) -> None:
    """Remove an unpacked folder (whatever the child left in it)."""
    shutil.rmtree(folder, ignore_errors=True)
