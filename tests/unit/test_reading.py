"""Reading a model file once while hashing it (validator.loading.reading)."""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
from pathlib import Path

import pytest

from validator.loading import reading
from validator.loading.errors import ModelLoadError
from validator.loading.reading import read_hashed


@pytest.mark.parametrize("size", [1, 15, 16, 17, 16 * 3 + 5])
def test_the_digest_is_the_sha256_of_the_bytes_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(reading, "BLOCK", 16)  # many blocks, whatever the size
    data = os.urandom(size)
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    view, digest = read_hashed(path, size)
    digest.join(timeout=10)
    assert bytes(view) == data
    assert view.readonly
    assert digest.hexdigest == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("claimed", "words"), [(+10, "shrank"), (-10, "grew")])
def test_a_file_whose_size_changed_since_it_was_measured_is_refused(
    tmp_path: Path, claimed: int, words: str
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x" * 100)
    with pytest.raises(ModelLoadError, match=words):
        read_hashed(path, 100 + claimed)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    os.mkfifo(path)  # nobody writes: a blocking open or read would hang
    with pytest.raises(ModelLoadError, match="not a regular file"):
        read_hashed(path, 100)


def test_no_room_for_the_buffer_is_a_memory_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))

    monkeypatch.setattr(reading.mmap, "mmap", refuse)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"x" * 100)
    with pytest.raises(MemoryError, match="cannot hold"):
        read_hashed(path, 100)
