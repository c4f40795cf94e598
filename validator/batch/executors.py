"""Where evaluations run: local worker threads that each drive one ``robust-validate check``
process, or Ray tasks (``--ray``) that do the same on whichever node Ray picks.

Both yield ``(fingerprint, Result)`` as evaluations finish and report how many are in flight.
Neither forks the batch process itself: every evaluation is a new program, so the batch may be
multi-threaded (the live display, Ray's gRPC threads) without risk. Stopping the batch (Ctrl-C,
SIGTERM) stops every evaluation in flight; finished ones are already recorded.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from validator.batch.result import Result
from validator.batch.worker import Task, evaluate, stop_all
from validator.errors import UsageError
from validator.loading.errors import one_line
from validator.vocab import SubmissionStatus

PARENT_BYTES = 1_000_000_000  # the check command's own process, on top of the child's limit
RAY_RETRIES = 3  # attempts after a Ray worker or node dies mid-task
_POLL_S = 0.5

Running = Callable[[int], None]
Finished = Generator[tuple[str, Result], None, None]


def run_local(tasks: list[Task], workers: int, running: Running) -> Finished:
    """Evaluate ``tasks`` with at most ``workers`` at a time on this machine."""
    processes: set[subprocess.Popen[str]] = set()
    lock = threading.Lock()
    active = [0]

    def job(task: Task) -> Result:
        with lock:
            active[0] += 1
        try:
            return evaluate(task, started=lambda p: _add(lock, processes, p))
        except Exception as exc:  # the batch goes on; the row says what went wrong
            return Result(SubmissionStatus.ERROR, one_line(exc), 0.0, None)
        finally:
            with lock:
                active[0] -= 1

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
    futures: dict[Future[Result], str] = {pool.submit(job, t): t.key for t in tasks}
    try:
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            running(active[0])
            for future in sorted(done, key=lambda f: futures[f]):
                yield futures[future], future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            in_flight = list(processes)
        stop_all(in_flight)
        pool.shutdown(wait=True)


def _add(lock: threading.Lock, processes: set[Any], process: Any) -> None:
    with lock:
        processes.add(process)


def run_ray(tasks: list[Task], address: str | None, memory: int, running: Running) -> Finished:
    """Evaluate ``tasks`` as Ray tasks, each declaring its threads as CPUs and ``memory``
    bytes, retried when its worker dies. ``address`` joins a cluster; None starts Ray here."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    pending: list[Any] = []
    try:
        _check_memory(ray, memory)
        remote = ray.remote(ray_task)
        refs = {
            remote.options(num_cpus=t.threads, memory=memory, max_retries=RAY_RETRIES).remote(
                t
            ): t.key
            for t in tasks
        }
        pending = list(refs)
        slots = max(1, int(ray.available_resources().get("CPU", 1)) // max(1, tasks[0].threads))
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=_POLL_S)
            running(min(len(pending) + len(ready), slots))
            for ref in ready:
                yield refs[ref], _ray_result(ray, ref)
    finally:
        for ref in pending:
            ray.cancel(ref)  # the task stops its check process (KeyboardInterrupt in it)
        if started:
            ray.shutdown()


def ray_task(task: Task) -> dict[str, Any]:
    """The body of one Ray task (plain data back, so the driver needs nothing else)."""
    return evaluate(task).to_dict()


def _ray_result(ray: Any, ref: Any) -> Result:
    try:
        return Result.from_dict(ray.get(ref))
    except ray.exceptions.RayError as exc:  # retries spent, or the task was cancelled
        return Result(SubmissionStatus.ERROR, f"Ray task failed: {one_line(exc, 200)}", 0.0, None)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--ray needs Ray: pip install 'robust-validate[cluster]' (or use --workers N)"
        ) from None
    return ray


def _check_memory(ray: Any, memory: int) -> None:
    """A task no node can hold would wait for ever: refuse it up front."""
    largest = max(
        (node.get("Resources", {}).get("memory", 0) for node in ray.nodes() if node.get("Alive")),
        default=0,
    )
    if largest < memory:
        raise UsageError(
            f"each submission needs {memory / 1e9:.3g} GB (profile limit_memory_bytes plus "
            f"the check process) but the largest Ray node offers {largest / 1e9:.3g} GB"
        )
