"""Track 2 data layouts: folders, a single 0/1 label file, manifests, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from validator.detection.data import DetectionKind, open_detection_data
from validator.errors import DataError


def _images(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / name)
    return folder


def test_folders_layout_labels_sets_and_corruptions(tmp_path: Path) -> None:
    _images(tmp_path / "clean", ["a.png", "b.png"])
    (tmp_path / "clean" / "manifest.csv").write_text("file,corruption\na.png,blur\nb.png,\n")
    _images(tmp_path / "adversarial" / "pgd", ["x.png"])
    _images(tmp_path / "adversarial" / "cw" / "class3", ["y.png"])  # class folders
    (tmp_path / "notes").mkdir()
    data = open_detection_data(tmp_path)
    assert [(s.name, s.kind) for s in data.sets] == [
        ("clean", DetectionKind.CLEAN), ("cw", DetectionKind.ADVERSARIAL),
        ("pgd", DetectionKind.ADVERSARIAL),
    ]  # fmt: skip
    assert [(s.name, s.label, s.corruption, s.attack) for s in data.samples] == [
        ("a.png", 0, "blur", ""), ("b.png", 0, "none", ""),
        ("class3/y.png", 1, "none", "cw"), ("x.png", 1, "none", "pgd"),
    ]  # fmt: skip
    assert [p.name for p in data.ignored] == ["notes"]


def test_label_txt_lists_the_images_and_its_classes_are_ignored(tmp_path: Path) -> None:
    _images(tmp_path / "clean", ["a.png", "b.png"])
    (tmp_path / "clean" / "label.txt").write_text("b.png 57\n")
    data = open_detection_data(tmp_path)
    assert [s.name for s in data.samples] == ["b.png"]


def test_single_set_with_zero_one_labels(tmp_path: Path) -> None:
    _images(tmp_path, ["a.png", "b.png", "c.png"])
    (tmp_path / "label.txt").write_text("a.png 0\nb.png 1\nc.png 1\n")
    (tmp_path / "manifest.csv").write_text("file,attack,corruption\nb.png,pgd,grey\n")
    data = open_detection_data(tmp_path)
    assert data.layout == "label.txt" and data.sets[0].kind is DetectionKind.MIXED
    assert [(s.label, s.attack, s.corruption) for s in data.samples] == [
        (0, "", "none"), (1, "pgd", "grey"), (1, "test", "none"),
    ]  # fmt: skip


BAD = {
    "label 2": ("label.txt", "a.png 2\n", r"1 \(adversarial\) or 0"),
    "missing image": ("label.txt", "zz.png 1\n", "missing"),
    "outside": ("label.txt", "../a.png 1\n", "outside"),
    "not a layout": ("readme.txt", "hello", "not a Track 2 data set"),
}


@pytest.mark.parametrize("file, text, expected", BAD.values(), ids=list(BAD))
def test_bad_data_is_a_data_error(tmp_path: Path, file: str, text: str, expected: str) -> None:
    _images(tmp_path, ["a.png"])
    (tmp_path / file).write_text(text)
    with pytest.raises(DataError, match=expected):
        open_detection_data(tmp_path)


def test_manifest_without_file_column(tmp_path: Path) -> None:
    _images(tmp_path / "clean", ["a.png"])
    (tmp_path / "clean" / "manifest.csv").write_text("name,corruption\na.png,blur\n")
    with pytest.raises(DataError, match="'file' column"):
        open_detection_data(tmp_path)


def test_images_directly_in_adversarial_folder(tmp_path: Path) -> None:
    _images(tmp_path / "clean", ["a.png"])
    _images(tmp_path / "adversarial", ["b.png"])
    with pytest.raises(DataError, match="own folder"):
        open_detection_data(tmp_path)
