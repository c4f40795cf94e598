"""A batch run: list the submissions, skip what is already finished, evaluate the rest on
local worker processes or Ray tasks, and rewrite the results after each one finishes.

Identical submissions (same sha256) are evaluated once under one fingerprint and written under
every id. The results folder is rewritten atomically after every finished evaluation, so it is
always a consistent snapshot, and a run stopped at any moment loses only what was in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from validator.batch import executors
from validator.batch.fingerprint import fingerprint, resolve_settings
from validator.batch.leaderboard import Outcome, build_rows, leaderboard_csv, leaderboard_json
from validator.batch.page import leaderboard_page
from validator.batch.result import Result
from validator.batch.store import Store, dumps
from validator.batch.submissions import Entry, list_submissions
from validator.batch.worker import Task
from validator.config import Profile
from validator.errors import UsageError
from validator.sandbox import usable_cores
from validator.vocab import SubmissionStatus


class BatchProgress(Protocol):
    """Receives the batch's counts after every change (the console draws them)."""

    def update(self, done: int, failed: int, running: int, total: int) -> None:
        """``done`` of ``total`` submissions finished, ``failed`` of them not passing."""


@dataclass(frozen=True)
class BatchOptions:
    """What the ``batch`` command was asked to do."""

    submissions: Path
    out: Path
    profile: str = "final"
    data: Path | None = None
    attack: str | None = None
    checks_only: bool = False
    workers: int = 1
    ray: bool = False
    ray_address: str | None = None


@dataclass
class _Group:
    """The entries sharing one content hash, evaluated once."""

    key: str
    entries: list[Entry]
    result: Result | None = None


@dataclass
class BatchRun:
    """A finished batch: its leaderboard document, and how many evaluations ran or were
    reused from an earlier run."""

    leaderboard: dict[str, Any]
    evaluated: int = 0
    reused: int = 0
    groups: list[_Group] = field(default_factory=list)


def run_batch(options: BatchOptions, progress: BatchProgress | None = None) -> BatchRun:
    """Run the batch of ``options``; UsageError or DataError before any work when the
    options, the profile, the suite or the data set are wrong."""
    _check_paths(options)
    settings, profile, listing = resolve_settings(
        options.profile, options.data, options.attack, options.checks_only
    )
    store = Store(options.out)
    entries = list_submissions(options.submissions)
    groups = _groups(entries, lambda sha: fingerprint(sha, settings, profile, listing))
    run = BatchRun({}, groups=groups)
    for group in groups:
        group.result = store.cached(group.key)
        if group.result is not None:
            run.reused += 1
            _restore_reports(store, group)
    writer = _Writer(store, entries, groups, profile, progress)
    writer.refresh()
    threads = _threads(profile, 1 if options.ray else options.workers, options.ray)
    tasks = [_task(g, settings, threads) for g in groups if g.result is None]
    by_key = {g.key: g for g in groups}
    with closing(_execute(options, tasks, profile, writer)) as finished:
        for key, result in finished:  # leaving early (Ctrl-C) stops what is in flight
            group = by_key[key]
            group.result = result
            store.record(key, result, [e.id for e in group.entries])
            run.evaluated += 1
            writer.refresh()
    run.leaderboard = writer.refresh()
    return run


def _check_paths(options: BatchOptions) -> None:
    if not options.submissions.is_dir():
        raise UsageError(f"{options.submissions} is not a folder of submissions")
    if options.workers < 1:
        raise UsageError("--workers must be at least 1")
    out, submissions = options.out.resolve(), options.submissions.resolve()
    if out == submissions or submissions in out.parents:
        raise UsageError(f"--out {options.out} is inside the submissions folder")
    if options.out.exists() and not options.out.is_dir():
        raise UsageError(f"--out {options.out} exists and is not a folder")


def _groups(entries: list[Entry], key_of: Callable[[str], str]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for entry in entries:
        if entry.valid and entry.sha256 is not None:
            key = key_of(entry.sha256)
            groups.setdefault(key, _Group(key, [])).entries.append(entry)
    return list(groups.values())


def _restore_reports(store: Store, group: _Group) -> None:
    """Reuse a finished result for ids that lack their report (a new duplicate, say)."""
    missing = [e.id for e in group.entries if not (store.root / e.id / "report.json").is_file()]
    if missing and group.result is not None:
        store.record(group.key, group.result, missing)


def _threads(profile: Profile, workers: int, ray: bool) -> int:
    """onnxruntime threads per evaluation: the profile's; else one per Ray task (Ray packs
    tasks by the CPUs they declare), or this machine's cores shared out among the workers."""
    if profile.threads:
        return profile.threads if ray else min(profile.threads, usable_cores())
    return 1 if ray else max(1, usable_cores() // workers)


def _task(group: _Group, settings: Any, threads: int) -> Task:
    model = group.entries[0].model
    assert model is not None  # only valid entries are grouped
    return Task(group.key, str(model.resolve()), settings, threads)


def _execute(
    options: BatchOptions, tasks: list[Task], profile: Profile, writer: _Writer
) -> executors.Finished:
    if not tasks:
        return _nothing()
    if options.ray:
        memory = profile.limit_memory_bytes + executors.PARENT_BYTES
        return executors.run_ray(tasks, options.ray_address, memory, writer.running)
    return executors.run_local(tasks, options.workers, writer.running)


class _Writer:
    """Rewrites the leaderboards and the page from the current results."""

    def __init__(
        self, store: Store, entries: list[Entry], groups: list[_Group], profile: Profile,
        progress: BatchProgress | None,
    ) -> None:  # fmt: skip
        self.store, self.entries, self.profile, self.progress = store, entries, profile, progress
        self.result_of = {e.id: g for g in groups for e in g.entries}
        self.in_flight = 0

    def running(self, count: int) -> None:
        """The number of evaluations in flight changed."""
        self.in_flight = count
        self._progress(self._rows())

    def refresh(self) -> dict[str, Any]:
        """Write leaderboard.json, leaderboard.csv and index.html; the JSON document."""
        rows = self._rows()
        convention = self.profile.macs_convention.value
        document = leaderboard_json(rows, self.profile.name, convention)
        self.store.write("leaderboard.json", dumps(document))
        self.store.write("leaderboard.csv", leaderboard_csv(rows))
        reports = {e.id: self._report(e) for e in self.entries}
        self.store.write("index.html", leaderboard_page(document, reports))
        self._progress(rows)
        return document

    def _rows(self) -> list[dict[str, Any]]:
        outcomes = [Outcome(e, self._result(e)) for e in self.entries]
        return build_rows(outcomes, self.profile.macs_convention.value)

    def _result(self, entry: Entry) -> Result | None:
        group = self.result_of.get(entry.id)
        return group.result if group is not None else None

    def _report(self, entry: Entry) -> dict[str, Any] | None:
        result = self._result(entry)
        return result.report if result is not None else None

    def _progress(self, rows: list[dict[str, Any]]) -> None:
        if self.progress is None:
            return
        waiting = (SubmissionStatus.PENDING.value, SubmissionStatus.INVALID.value)
        done = [r for r in rows if r["status"] not in waiting]
        failed = sum(1 for r in done if r["status"] != "ok" or r["verdict"] != "pass")
        total = sum(1 for r in rows if r["status"] != SubmissionStatus.INVALID.value)
        self.progress.update(len(done), failed, self.in_flight, total)


def _nothing() -> executors.Finished:
    yield from ()
