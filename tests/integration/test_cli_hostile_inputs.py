"""The non-model hostile corpus: TOML files, data sets, label files and output paths, each built
here in the test run and driven through the real CLI. Every case asserts the exit status and the
reason, and prints no traceback; every case is bounded by the harness (SIGALRM), so a case that
would hang (a FIFO opened for reading, say) fails instead of stopping the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.builders import colour_dataset, colour_model, colour_profile
from validator.cli.main import cli

CASE_SECONDS = 120  # the harness bound of one case: generous for a loaded 2-core machine


@pytest.fixture(autouse=True)
def time_bound() -> Iterator[None]:
    """Fail (not hang) a case that runs past CASE_SECONDS."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"the case ran past its {CASE_SECONDS} s bound")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(CASE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Case:
    """One hostile input: ``build(tmp)`` returns the CLI arguments after the model path."""

    id: str
    build: Callable[[Path], list[str]]
    status: int
    words: str


def _profile(tmp: Path, text: str) -> list[str]:
    path = tmp / "profile.toml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return ["--checks-only", "--profile", str(path)]


def _fifo_profile(tmp: Path) -> list[str]:
    os.mkfifo(tmp / "fifo.toml")
    return ["--checks-only", "--profile", str(tmp / "fifo.toml")]


def _zero_profile(tmp: Path) -> list[str]:
    (tmp / "zero.toml").symlink_to("/dev/zero")
    return ["--checks-only", "--profile", str(tmp / "zero.toml")]


def _suite(tmp: Path, text: str) -> list[str]:
    (tmp / "suite.toml").write_text(text, encoding="utf-8")
    return ["--data", str(colour_dataset(tmp / "data")), "--attack", str(tmp / "suite.toml")]


def _data(tmp: Path, change: Callable[[Path], None]) -> list[str]:
    root = colour_dataset(tmp / "data")
    change(root)
    return ["--data", str(root)]


def _label(text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / "clean" / "label.txt").write_text(text, encoding="utf-8")

    return change


def _link_out(root: Path) -> None:
    Image.new("RGB", (8, 8)).save(root.parent / "secret.png")
    (root / "clean" / "06.png").symlink_to(root.parent / "secret.png")
    with (root / "clean" / "label.txt").open("a", encoding="utf-8") as handle:
        handle.write("06.png 1\n")


def _class_up(root: Path) -> None:
    (root / "clean" / "label.txt").unlink()
    (root / "clean" / "0").symlink_to("..")


def _fifo_label(root: Path) -> None:
    (root / "clean" / "label.txt").unlink()
    os.mkfifo(root / "clean" / "label.txt")


def _output(tmp: Path, option: str, make: Callable[[Path], Path]) -> list[str]:
    return ["--data", str(colour_dataset(tmp / "data")), option, str(make(tmp))]


def _folder(tmp: Path) -> Path:
    (tmp / "out").mkdir()
    return tmp / "out"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "out.fifo")
    return tmp / "out.fifo"


SUITE_OK = '[[attack]]\nkind = "corruptions"\nnames = ["fog"]\nseverities = [1]\n'
CASES = [
    Case("profile-unknown-key", lambda t: _profile(t, "max_mac = 1"), 2, "did you mean 'max_macs'"),
    Case("profile-nan", lambda t: _profile(t, "tolerance = nan"), 2, "tolerance: needs a finite"),
    Case("profile-range", lambda t: _profile(t, "num_classes = 0"), 2, "num_classes: 0 is out of"),
    Case("profile-type", lambda t: _profile(t, 'max_params = "x"'), 2, "max_params: needs a whole"),
    Case("profile-load-warning", lambda t: _profile(t, '[severity]\nload = "warning"'), 2,
         "severity.load: load is always an error"),
    Case("profile-path", lambda t: _profile(t, 'reference_data = "../.."'), 2, "not a plain name"),
    Case("profile-big", lambda t: _profile(t, "# " + "x" * 2_000_000), 2, "more than the"),
    Case("profile-not-utf8", lambda t: _profile(t, "\udcff"), 2, "profile.toml is not UTF-8"),
    Case("profile-fifo", _fifo_profile, 2, "not a regular file (a FIFO)"),
    Case("profile-dev-zero", _zero_profile, 2, "not a regular file (a character device)"),
    Case("suite-dotdot-name", lambda t: _suite(t, SUITE_OK.replace(
        '"corruptions"', '"patch"\nname = "../../escape"').split("names")[0]), 2,
        "attack[0].name: '../../escape' is not a plain name"),
    Case("suite-absolute-name", lambda t: _suite(t, '[[attack]]\nkind = "laser"\nname = "/tmp/x"'),
         2, "is not a plain name"),
    Case("suite-inf-eps", lambda t: _suite(t, '[[attack]]\nkind = "square-linf"\neps = inf'), 2,
         "attack[0].eps: needs a finite number"),
    Case("suite-bad-kind", lambda t: _suite(t, '[[attack]]\nkind = "sqare-linf"'), 2,
         "did you mean 'square-linf'"),
    Case("label-arabic-digit", lambda t: _data(t, _label("00.png \u0661\n")), 2, "ASCII digits"),
    Case("label-plus", lambda t: _data(t, _label("00.png +2\n")), 2, "ASCII digits"),
    Case("label-underscore", lambda t: _data(t, _label("00.png 1_0\n")), 2, "ASCII digits"),
    Case("label-dotdot", lambda t: _data(t, _label("../../x.png 1\n")), 2, "outside the set's"),
    Case("label-absolute", lambda t: _data(t, _label("/etc/passwd 1\n")), 2, "outside the set's"),
    Case("label-fifo", lambda t: _data(t, _fifo_label), 2, "not a regular file (a FIFO)"),
    Case("data-symlink-out", lambda t: _data(t, _link_out), 2, "symlink leading outside"),
    Case("data-class-dotdot", lambda t: _data(t, _class_up), 2, "class folder is a symlink"),
    Case("json-folder", lambda t: _output(t, "--json", _folder), 2, "it is a folder"),
    Case("json-fifo", lambda t: _output(t, "--json", _fifo), 2, "it is a FIFO"),
    Case("json-no-parent", lambda t: _output(t, "--json", lambda p: p / "no" / "r.json"), 2,
         "is not a folder"),
    Case("json-disk-full", lambda t: _output(t, "--json", lambda p: Path("/dev/full")), 2,
         "cannot write /dev/full: No space left on device"),
    Case("predictions-folder", lambda t: _output(t, "--predictions", _folder), 2, "it is a folder"),
    Case("predictions-disk-full",
         lambda t: _output(t, "--predictions", lambda p: Path("/dev/full")), 2,
         "cannot write /dev/full: No space left on device"),
    Case("checks-empty", lambda t: ["--checks-only", "--checks", ","], 2, "names no check id"),
    Case("checks-unknown", lambda t: ["--checks-only", "--checks", "flop"], 2, "did you mean"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_input_exits_with_its_status_and_reason(case: Case, tmp_path: Path) -> None:
    model = colour_model(tmp_path / "model.onnx")
    profile = ["--profile", str(colour_profile(tmp_path / "tiny.toml"))]
    args = case.build(tmp_path)
    if "--profile" in args:
        profile = []
    result = CliRunner().invoke(cli, ["check", str(model), *profile, *args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == case.status, result.output
    assert case.words in " ".join(result.output.split()), result.output


def test_attack_out_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    args = ["attack", str(colour_model(tmp_path / "m.onnx")), "--data", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "exists and is not a folder" in result.output


def test_attack_out_with_a_symlink_leading_out_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "attacked").mkdir(parents=True)
    (out / "attacked" / "fog-s1").symlink_to(tmp_path)
    args = ["attack", str(colour_model(tmp_path / "m.onnx")), "--data", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert result.exit_code == 2 and "is a symlink leading outside it" in result.output


def test_stdout_on_a_full_disk_is_one_line_and_exit_2(tmp_path: Path) -> None:
    model = colour_model(tmp_path / "model.onnx")
    command = [sys.executable, "-m", "validator", str(model), "--checks-only", "--json", "-"]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            command, stdout=full, stderr=subprocess.PIPE, text=True, timeout=CASE_SECONDS
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "No space left on device" in done.stderr
