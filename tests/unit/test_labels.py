"""Label files and label values (validator.data.labels), including generated junk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from validator.data.labels import MAX_LINE_BYTES, label_lines, parse_label, parse_line
from validator.errors import DataError

JUNK = settings(derandomize=True, max_examples=200, deadline=None, database=None)


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("099", 99), ("-1", -1), ("999999999", 999_999_999)],
)
def test_labels_are_ascii_digits(text: str, value: int) -> None:
    assert parse_label(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "\u0661",
        "+3",
        "3_0",
        "1e3",
        " 1",
        "3.0",
        "²",
        "0x1",
        "1" * 10,
        "",
        "-",
        "\u0663\u0664",
        "\uff13",
    ],
)
def test_anything_else_is_not_a_label(text: str) -> None:
    assert parse_label(text) is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("a.png \u0661", "ASCII digits"),
        ("a.png +3", "ASCII digits"),
        ("a.png 3_0", "ASCII digits"),
        ("a.png 1e3", "ASCII digits"),
        ("a.png", "expected '<image name> <label>'"),
        ("../x.png 1", "outside the set's folder"),
        ("/etc/passwd 1", "outside the set's folder"),
        ("a/../../b.png 1", "outside the set's folder"),
        ("a\\..\\b.png 1", "outside the set's folder"),
    ],
)
def test_bad_lines_name_the_line(line: str, words: str) -> None:
    with pytest.raises(DataError, match=f"label.txt:4: .*{words}"):
        parse_line(line, "label.txt:4")


def test_label_file_is_streamed_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(b"\xef\xbb\xbfa b.png 1\n\n./c.png 2\r\n" + b"x" * (MAX_LINE_BYTES + 1))
    lines = label_lines(path)
    assert next(lines) == (1, "a b.png", 1)
    assert next(lines) == (3, "c.png", 2)
    with pytest.raises(DataError, match=f"label.txt:4: line longer than {MAX_LINE_BYTES}"):
        next(lines)


def test_a_fifo_label_file_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "label.txt"
    os.mkfifo(path)
    with pytest.raises(DataError, match="not a regular file"):
        list(label_lines(path))


@JUNK
@given(st.text(max_size=200))
def test_junk_lines_give_a_pair_or_a_data_error(line: str) -> None:
    try:
        parsed = parse_line(line, "label.txt:1")
    except DataError as exc:
        assert "\n" not in str(exc).replace(repr(line.strip()[:80]), "")
        return
    if parsed is not None:
        name, label = parsed
        assert not name.startswith("/") and ".." not in name.split("/")
        assert isinstance(label, int) and abs(label) < 10**9


@JUNK
@given(st.binary(max_size=400))
def test_junk_label_files_give_lines_or_a_data_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "junk-label.txt"
    path.write_bytes(data)
    try:
        for lineno, name, label in label_lines(path):
            assert lineno >= 1 and name and isinstance(label, int)
    except DataError:
        pass
    finally:
        path.unlink()
