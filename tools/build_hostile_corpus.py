"""Write the hostile model corpus (tests/hostile_corpus.py) to a folder, optionally run it.

    python tools/build_hostile_corpus.py OUT            # OUT/<case>/..., OUT/manifest.json
    python tools/build_hostile_corpus.py OUT --run      # also run each case through the CLI

The manifest lists, per case, the model path (relative to OUT), the CLI arguments, and the
expected exit status, check, status and message words. ``--run`` runs every case in a child
process bounded in time and address space (tests/hostile_runner.py) and prints its exit
status, peak resident memory (ru_maxrss of the child) and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile_corpus import CASES, Case  # noqa: E402
from tests.hostile_runner import run_cli  # noqa: E402


def build(out: Path) -> list[dict[str, object]]:
    """Build every case under ``out`` and return the manifest entries."""
    entries = []
    for case in CASES:
        folder = out / case.id
        folder.mkdir(parents=True, exist_ok=True)
        model = case.build(folder)
        entries.append(
            {
                "id": case.id,
                "model": os.fsdecode(model.relative_to(out)),
                "args": list(case.args),
                "exit": case.exit,
                "check": case.check,
                "status": case.status,
                "words": list(case.words),
                "loop_hang": case.loop_hang,
            }
        )
    (out / "manifest.json").write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return entries


def run(out: Path, case: Case, model: Path) -> str:
    """One line: the case, its exit status (expected), peak memory and wall time."""
    started = time.monotonic()
    report = model.parent / "report.json"
    outcome = run_cli([str(model), *case.args, "--json", str(report)], 300, cwd=model.parent)
    seconds = time.monotonic() - started
    status = "HUNG" if outcome.hung else (outcome.crash or f"exit {outcome.exit}")
    return (
        f"{case.id:34} {status:>8} (want {case.exit})  peak {outcome.peak_kib / 1024:6.1f} MiB"
        f"  children {outcome.children_peak_kib / 1024:6.1f} MiB  {seconds:5.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--run", action="store_true", help="run each case through the CLI")
    args = parser.parse_args()
    entries = build(args.out)
    print(f"{len(entries)} cases written to {args.out}")
    if args.run:
        for case, entry in zip(CASES, entries, strict=True):
            print(run(args.out, case, args.out / str(entry["model"])), flush=True)


if __name__ == "__main__":
    main()
