"""Reading and writing files named by the user or by untrusted data (validator.files)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from validator.errors import DataError, UsageError
from validator.files import (
    check_output,
    check_output_folder,
    confined,
    file_sha256,
    read_limited,
    resolves_inside,
)


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.toml"
    os.mkfifo(path)
    return path


def _dev_zero(tmp_path: Path) -> Path:
    path = tmp_path / "zero.toml"
    path.symlink_to("/dev/zero")
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "dir.toml"
    path.mkdir()
    return path


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "big.toml"
    with path.open("wb") as handle:
        handle.truncate(10**9)  # sparse: a gigabyte that takes no disk
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_fifo, "is not a regular file (a FIFO)"),  # would block a plain open() forever
        (_dev_zero, "is not a regular file (a character device)"),
        (_folder, "is not a regular file (a folder)"),
        (_huge, "is 1000000000 bytes, more than the 1000 allowed"),
        (lambda tmp: tmp / "missing.toml", "cannot read profile"),
    ],
)
def test_only_small_regular_files_are_read(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        read_limited(make(tmp_path), "profile", 1000)


def test_a_regular_file_through_a_symlink_is_read(tmp_path: Path) -> None:
    (tmp_path / "real.toml").write_bytes(b"x = 1")
    (tmp_path / "link.toml").symlink_to(tmp_path / "real.toml")
    assert read_limited(tmp_path / "link.toml", "profile", 1000) == b"x = 1"


def test_data_errors_can_be_asked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        read_limited(_fifo(tmp_path), "label file", 1000, DataError)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_folder, "it is a folder"),
        (_fifo, "it is a FIFO"),
        (lambda tmp: tmp / "no" / "such" / "report.json", "is not a folder"),
        (lambda tmp: tmp / "file.txt" / "report.json", "Not a directory"),
    ],
)
def test_unwritable_outputs_are_refused_before_the_run(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(UsageError, match=f"cannot write --json .*{words}"):
        check_output(make(tmp_path), "--json")


def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as a user that ignores permissions")
    with pytest.raises(UsageError, match="not writable"):
        check_output(locked / "report.json", "--json")
    with pytest.raises(UsageError, match="not a writable folder"):
        check_output_folder(locked / "out", "--out")


@pytest.mark.parametrize("path", ["-", "report.json", "existing.json", "/dev/null"])
def test_writable_outputs_pass(tmp_path: Path, path: str) -> None:
    (tmp_path / "existing.json").write_text("{}")
    check_output(path if path.startswith(("-", "/")) else tmp_path / path, "--json")


def test_output_folder_may_be_new_or_existing_but_not_a_file(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new" / "deeper", "--out")
    check_output_folder(tmp_path, "--out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        check_output_folder(tmp_path / "file", "--out")


@pytest.mark.parametrize(
    "name", ["../x.png", "a/../../x.png", "/etc/passwd", "..", "a\\..\\x", "", "a\x00b"]
)
def test_names_from_data_never_leave_their_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError, match="is outside the folder"):
        confined(tmp_path, name, "label.txt:3")


@pytest.mark.parametrize("name", ["a.png", "cls/a b.png", "./a.png", "a..b.png"])
def test_plain_relative_names_are_kept(tmp_path: Path, name: str) -> None:
    assert confined(tmp_path, name, "label.txt:1").parent.is_relative_to(tmp_path)


def test_symlinks_out_of_a_folder_are_detected(tmp_path: Path) -> None:
    inside = tmp_path / "set"
    inside.mkdir()
    (inside / "ok.png").symlink_to(inside / "real.png")
    (inside / "out.png").symlink_to("/etc/hostname")
    (inside / "loop.png").symlink_to(inside / "loop.png")
    assert resolves_inside(inside / "ok.png", inside)
    assert not resolves_inside(inside / "out.png", inside)
    assert not resolves_inside(inside / "loop.png", inside)


def test_output_folder_with_a_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "attacked").mkdir(parents=True)
    (out / "attacked" / "square-linf").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="square-linf is a symlink leading outside it"):
        check_output_folder(out, "--out")


def test_file_sha256_streams_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    data = os.urandom(3 * (1 << 20) + 7)  # spans several blocks
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("make", [_fifo, _dev_zero], ids=["fifo", "link-to-dev-zero"])
def test_file_sha256_refuses_what_could_hang_or_lead_out(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    with pytest.raises(OSError):
        file_sha256(make(tmp_path))
