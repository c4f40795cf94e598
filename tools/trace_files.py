"""List every file a robust-validate run opens outside the folders it was given, with strace.

    python tools/trace_files.py [--allow DIR ...] -- robust-validate MODEL [options...]

The command runs under ``strace -f`` (every child process included). A file counts as given
when it is, or lies inside, a path named on the command line (an argument, or the value of an
option), the parent folder of a given file (a model's external data sits beside it), or an
``--allow`` folder. The Python installation, the project's own package and bundled data, and
the system's libraries, /proc, /sys and /dev are always allowed. Writes are allowed only inside
paths given as outputs (--json, --predictions, --out, --html) or /dev.

Prints one line per file opened outside, then a summary; exits 1 when any file was opened
outside (reads or writes), 0 otherwise, 2 when strace is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SYSTEM = ("/usr", "/lib", "/lib64", "/proc", "/sys", "/dev", "/etc/ld.so.cache",
          "/etc/localtime", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/resolv.conf",
          "/etc/gai.conf", "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/mime.types",
          "/etc/ssl")  # fmt: skip
OUTPUT_OPTIONS = {"--json", "--predictions", "--out", "--html"}
LINE = re.compile(r'^\d+\s+(open|openat|openat2|creat)\((?:[^,]+, )?"((?:[^"\\]|\\.)*)", ([A-Z_|]+)')


def python_roots() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    paths |= {p for p in sys.path if p and os.path.isdir(p)}
    return sorted(str(Path(p).resolve()) for p in paths)


def given_paths(command: list[str]) -> tuple[list[str], list[str]]:
    """(readable roots, writable roots) named on ``command``."""
    reads, writes = [], []
    for i, word in enumerate(command[1:], start=1):
        if word.startswith("-") or word in ("check", "attack", "batch", "-"):
            continue
        path = Path(word)
        if not (path.exists() or path.parent.exists()):
            continue
        resolved = str(path.resolve())
        reads.append(resolved)
        if path.is_file() or not path.exists():
            reads.append(str(path.resolve().parent))
        if command[i - 1] in OUTPUT_OPTIONS:
            writes.append(resolved)
    return reads, writes


def inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow", action="append", default=[], help="another allowed folder")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command or shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    reads, writes = given_paths(command)
    reads += [str(Path(a).resolve()) for a in args.allow]
    allowed = [*reads, *python_roots(), str(REPO / "validator"), str(REPO / "reference_data"),
               str(REPO / "pytest_plugin"), *SYSTEM]  # fmt: skip
    with tempfile.NamedTemporaryFile(suffix=".strace") as log:
        trace = ["strace", "-f", "-qq", "-e", "trace=open,openat,openat2,creat", "-o", log.name]
        done = subprocess.run([*trace, *command], stdout=subprocess.DEVNULL)
        lines = Path(log.name).read_text(errors="replace").splitlines()
    outside = 0
    for line in lines:
        match = LINE.match(line)
        if not match or "= -1" in line:
            continue  # not an open, or one that failed (import probes, missing files)
        path = os.path.normpath(os.path.join(os.getcwd(), match.group(2)))
        write = any(flag in match.group(3) for flag in ("O_WRONLY", "O_RDWR", "O_CREAT"))
        if write and not inside(path, [*writes, "/dev"]):
            print(f"WRITE outside the outputs given: {path}")
            outside += 1
        elif path == os.getcwd() and "O_DIRECTORY" in match.group(3):
            continue  # `python -m` lists the current folder for imports; no file in it is read
        elif not inside(path, allowed):
            print(f"read outside the paths given: {path}")
            outside += 1
    print(f"{len(lines)} calls traced; command exit status {done.returncode}; "
          f"{outside} files opened outside the paths given")  # fmt: skip
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
