"""Dataset discovery: label.txt and class-folder sets, attacked sets, and every bad-input case."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from validator.data.datasets import LabelSource, SetKind, list_set, open_dataset
from validator.errors import DataError

CLASSES = 3


def _png(path: Path, colour: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)
    return path


def _labelled_set(folder: Path, labels: dict[str, int], text: str | None = None) -> Path:
    for name in labels:
        _png(folder / name)
    lines = text if text is not None else "".join(f"{n} {lab}\n" for n, lab in labels.items())
    (folder / "label.txt").write_text(lines, encoding="utf-8")
    return folder


def _root(tmp_path: Path, attacked: tuple[str, ...] = ()) -> Path:
    root = tmp_path / "data"
    _labelled_set(root / "clean", {"a.png": 0, "b.png": 1})
    for name in attacked:
        _labelled_set(root / "attacked" / name, {"x.png": 2})
    return root


def test_root_lists_clean_then_attacked_sets_by_name(tmp_path: Path) -> None:
    dataset = open_dataset(_root(tmp_path, ("pgd", "fgsm")), CLASSES)
    assert [(s.name, s.kind) for s in dataset.sets] == [
        ("clean", SetKind.CLEAN),
        ("fgsm", SetKind.ATTACKED),
        ("pgd", SetKind.ATTACKED),
    ]
    assert [s.name for s in dataset.attacked] == ["fgsm", "pgd"]
    clean = dataset.sets[0]
    assert [(s.name, s.label) for s in clean.samples] == [("a.png", 0), ("b.png", 1)]
    assert clean.labels is LabelSource.LABEL_FILE


def test_root_without_attacked_sets_has_only_clean(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "attacked").mkdir()
    assert [s.name for s in open_dataset(root, CLASSES).sets] == ["clean"]


def test_unknown_top_level_folders_are_reported_as_ignored(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "noisy").mkdir()
    (root / "classes.txt").write_text("0 a\n")
    assert [p.name for p in open_dataset(root, CLASSES).ignored] == ["noisy"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a.png 0\n\n  \nb.png 2\n", [("a.png", 0), ("b.png", 2)], id="blank-lines"),
        pytest.param("\ufeffa.png 1\r\nb.png 0\r\n", [("a.png", 1), ("b.png", 0)], id="bom-crlf"),
        pytest.param("./a.png 0\nb.png\t1", [("a.png", 0), ("b.png", 1)], id="dot-slash-tab"),
    ],
)
def test_label_file_variants(tmp_path: Path, text: str, expected: list[tuple[str, int]]) -> None:
    folder = _labelled_set(tmp_path / "s", {"a.png": 0, "b.png": 0}, text)
    image_set = list_set(folder, "s", SetKind.CLEAN, CLASSES)
    assert [(s.name, s.label) for s in image_set.samples] == expected


def test_image_names_may_contain_spaces(tmp_path: Path) -> None:
    folder = _labelled_set(tmp_path / "s", {"my photo.png": 2})
    assert [(s.name, s.label) for s in list_set(folder, "s", SetKind.CLEAN, CLASSES).samples] == [
        ("my photo.png", 2)
    ]


def test_class_folders_with_names_use_sorted_order(tmp_path: Path) -> None:
    for cls in ("dog", "cat", "emu"):
        _png(tmp_path / "s" / cls / "1.png")
    image_set = list_set(tmp_path / "s", "s", SetKind.CLEAN, CLASSES)
    assert image_set.labels is LabelSource.SORTED_FOLDERS
    assert [(s.name, s.label) for s in image_set.samples] == [
        ("cat/1.png", 0),
        ("dog/1.png", 1),
        ("emu/1.png", 2),
    ]


def test_numbered_class_folders_use_their_number(tmp_path: Path) -> None:
    # Sorted as text, "10" would come before "2"; the number is the label.
    for cls in ("2", "10"):
        _png(tmp_path / "s" / cls / "img.jpg")
    image_set = list_set(tmp_path / "s", "s", SetKind.CLEAN, 11)
    assert image_set.labels is LabelSource.NUMBERED_FOLDERS
    assert sorted((s.name, s.label) for s in image_set.samples) == [
        ("10/img.jpg", 10),
        ("2/img.jpg", 2),
    ]


def test_label_file_wins_over_class_folders(tmp_path: Path) -> None:
    folder = _labelled_set(tmp_path / "s", {"a.png": 1})
    _png(folder / "0" / "b.png")
    image_set = list_set(folder, "s", SetKind.CLEAN, CLASSES)
    assert image_set.labels is LabelSource.LABEL_FILE
    assert [s.name for s in image_set.samples] == ["a.png"]


def test_non_image_and_hidden_files_are_not_images(tmp_path: Path) -> None:
    folder = _labelled_set(tmp_path / "s", {"a.png": 1})
    (folder / "README.md").write_text("notes")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "._a.png").write_bytes(b"\0\5\0")  # a macOS shadow file
    assert len(list_set(folder, "s", SetKind.CLEAN, CLASSES).samples) == 1


# Each bad case: how to break a clean set, the file the error must name, words of the reason.
def _out_of_range(folder: Path) -> Path:
    _labelled_set(folder, {"a.png": 0, "b.png": CLASSES})
    return folder / "b.png"


def _negative_label(folder: Path) -> Path:
    _labelled_set(folder, {"a.png": -1})
    return folder / "a.png"


def _missing_file(folder: Path) -> Path:
    _labelled_set(folder, {"a.png": 0}, "a.png 0\ngone.png 1\n")
    return folder / "gone.png"


def _unlabelled_image(folder: Path) -> Path:
    _labelled_set(folder, {"a.png": 0})
    return _png(folder / "stray.png")


def _folder_out_of_range(folder: Path) -> Path:
    _png(folder / "0" / "ok.png")
    return _png(folder / "7" / "far.png")


def _image_outside_class_folders(folder: Path) -> Path:
    _png(folder / "0" / "ok.png")
    return _png(folder / "loose.png")


BAD_IMAGES = [
    pytest.param(_out_of_range, "out of range", id="label-out-of-range"),
    pytest.param(_negative_label, "out of range", id="negative-label"),
    pytest.param(_missing_file, "missing", id="label-names-missing-file"),
    pytest.param(_unlabelled_image, "no label", id="image-without-label"),
    pytest.param(_folder_out_of_range, "out of range", id="class-folder-out-of-range"),
    pytest.param(_image_outside_class_folders, "no label", id="image-outside-class-folders"),
]


@pytest.mark.parametrize(("make", "words"), BAD_IMAGES)
def test_bad_image_is_an_error_naming_the_file(tmp_path: Path, make, words: str) -> None:
    bad = make(tmp_path / "data" / "clean")
    with pytest.raises(DataError, match=words) as caught:
        open_dataset(tmp_path / "data", CLASSES)
    assert str(bad) in str(caught.value)
    assert "--skip-bad-images" in str(caught.value)


@pytest.mark.parametrize(("make", "words"), BAD_IMAGES)
def test_bad_image_is_skipped_and_listed_on_request(tmp_path: Path, make, words: str) -> None:
    bad = make(tmp_path / "data" / "clean")
    clean = open_dataset(tmp_path / "data", CLASSES, skip_bad_images=True).sets[0]
    assert [s.path for s in clean.skipped] == [bad]
    assert words in clean.skipped[0].reason
    assert clean.skipped[0].set_name == "clean"
    assert bad not in [s.path for s in clean.samples]


def _malformed_line(root: Path) -> str:
    _labelled_set(root / "clean", {"a.png": 0}, "a.png 0\nb.png one\n")
    return f"{root / 'clean' / 'label.txt'}:2"


def _duplicate_line(root: Path) -> str:
    _labelled_set(root / "clean", {"a.png": 0}, "a.png 0\na.png 1\n")
    return f"{root / 'clean' / 'label.txt'}:2"


def _escaping_name(root: Path) -> str:
    _labelled_set(root / "clean", {"a.png": 0}, "../a.png 0\n")
    return f"{root / 'clean' / 'label.txt'}:1"


def _not_utf8(root: Path) -> str:
    _labelled_set(root / "clean", {"a.png": 0})
    (root / "clean" / "label.txt").write_bytes(b"\xff\xfe\x00a 0")
    return str(root / "clean" / "label.txt")


def _no_clean_set(root: Path) -> str:
    _labelled_set(root / "attacked" / "pgd", {"a.png": 0})
    return str(root)


def _empty_clean_set(root: Path) -> str:
    (root / "clean").mkdir(parents=True)
    return str(root / "clean")


def _images_directly_in_attacked(root: Path) -> str:
    _labelled_set(root / "clean", {"a.png": 0})
    _labelled_set(root / "attacked", {"b.png": 0})
    return str(root / "attacked")


def _missing_root(root: Path) -> str:
    return str(root)


@pytest.mark.parametrize(
    "make",
    [
        _malformed_line,
        _duplicate_line,
        _escaping_name,
        _not_utf8,
        _no_clean_set,
        _empty_clean_set,
        _images_directly_in_attacked,
        _missing_root,
    ],
)
def test_unreadable_dataset_is_an_error_naming_the_file_even_when_skipping(
    tmp_path: Path, make
) -> None:
    where = make(tmp_path / "data")
    with pytest.raises(DataError) as caught:
        open_dataset(tmp_path / "data", CLASSES, skip_bad_images=True)
    assert str(caught.value).startswith(where)


def test_single_set_passed_as_root_gets_a_hint(tmp_path: Path) -> None:
    folder = _labelled_set(tmp_path / "set", {"a.png": 0})
    with pytest.raises(DataError, match="put it in clean/"):
        open_dataset(folder, CLASSES)


def test_unreadable_folder_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path, ("pgd",))
    real_iterdir = Path.iterdir

    def iterdir(self: Path):  # what a folder without read permission does (tests run as root)
        if self.name == "pgd":
            raise PermissionError(13, "Permission denied", str(self))
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DataError, match="Permission denied") as caught:
        open_dataset(root, CLASSES)
    assert str(caught.value).startswith(str(root / "attacked" / "pgd"))


# --- hostile listings: symlinks out, '..', a million lines ---------------------------------


def _link_image_out(root: Path, outside: Path) -> str:
    (root / "clean" / "c.png").symlink_to(_png(outside / "secret.png"))
    (root / "clean" / "label.txt").write_text("a.png 0\nb.png 1\nc.png 2\n", encoding="utf-8")
    return "c.png: a symlink leading outside the data folder"


def _link_class_up(root: Path, outside: Path) -> str:
    (root / "clean" / "label.txt").unlink()
    for name in ("a.png", "b.png"):
        (root / "clean" / name).rename(_png(root / "clean" / "0" / name).parent / name)
    (root / "clean" / "1").symlink_to("..")
    return "1: class folder is a symlink leading outside"


def _link_set_out(root: Path, outside: Path) -> str:
    _labelled_set(outside / "elsewhere", {"x.png": 2})
    (root / "attacked").mkdir()
    (root / "attacked" / "evil").symlink_to(outside / "elsewhere")
    return "a symlink leads outside the data folder"


def _link_label_file_out(root: Path, outside: Path) -> str:
    (outside / "label.txt").write_text("a.png 0\nb.png 1\n", encoding="utf-8")
    (root / "clean" / "label.txt").unlink()
    (root / "clean" / "label.txt").symlink_to(outside / "label.txt")
    return "label.txt: a symlink leading outside the data folder"


def _label_dot_dot(root: Path, outside: Path) -> str:
    (root / "clean" / "label.txt").write_text("a.png 0\n../../secret.png 1\n", encoding="utf-8")
    return "'../../secret.png' is outside the set's folder"


@pytest.mark.parametrize(
    "make", [_link_image_out, _link_class_up, _link_set_out, _link_label_file_out, _label_dot_dot]
)
def test_nothing_outside_the_data_folder_is_listed(tmp_path: Path, make) -> None:
    root, outside = _root(tmp_path), tmp_path / "outside"
    outside.mkdir()
    words = make(root, outside)
    for skip in (False, True):
        with pytest.raises(DataError, match=words.replace("(", r"\(")):
            open_dataset(root, CLASSES, skip_bad_images=skip)


def test_symlinks_inside_the_data_folder_are_fine(tmp_path: Path) -> None:
    root = _root(tmp_path, attacked=("noise",))
    (root / "clean" / "c.png").symlink_to(root / "attacked" / "noise" / "x.png")
    (root / "clean" / "label.txt").write_text("a.png 0\nb.png 1\nc.png 2\n", encoding="utf-8")
    assert len(open_dataset(root, CLASSES).sets[0].samples) == 3


def test_arabic_indic_class_folders_are_names_not_numbers(tmp_path: Path) -> None:
    _png(tmp_path / "set" / "\u0661" / "a.png")
    _png(tmp_path / "set" / "0" / "b.png")
    listed = list_set(tmp_path / "set", "clean", SetKind.CLEAN, CLASSES)
    assert listed.labels is LabelSource.SORTED_FOLDERS


def _missing(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "data" / "clean"
    _png(folder / "a.png")
    with (folder / "label.txt").open("w", encoding="utf-8") as handle:
        handle.write("a.png 0\n")
        handle.writelines(f"missing/{i:07d}.png 1\n" for i in range(count))
    return tmp_path / "data"


def test_many_problems_are_one_error_naming_the_first_and_counting_the_rest(
    tmp_path: Path,
) -> None:
    with pytest.raises(DataError, match=r"missing/0000000.png: missing, .* \(and 49 more in set"):
        open_dataset(_missing(tmp_path, 50), CLASSES)


@pytest.mark.slow  # 20 s of CPU for a million stat() calls; minutes on a shared machine
def test_a_million_missing_files_keep_the_first_problems_and_the_count(tmp_path: Path) -> None:
    listed = open_dataset(_missing(tmp_path, 1_000_000), CLASSES, skip_bad_images=True).sets[0]
    assert len(listed.samples) == 1
    assert (len(listed.skipped), listed.unlisted) == (20, 999_980)
