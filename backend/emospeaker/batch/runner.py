"""Feed a batch's lines to a worker, show progress, record failures, stop cleanly on Ctrl-C.

Workers are plain callables `Line -> Outcome` (see `lines.process_line`); `jobs` of them run
at once, on threads when a server or a Ray actor does the work, or on worker processes that
each keep warm engines (a line's phone recognition holds the GIL), or one after another in
this thread.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tqdm import tqdm

from .lines import Outcome
from .manifest import BadRow, Line

Worker = Callable[[Line | BadRow], Outcome]
FAILURES = "failures.jsonl"


@dataclass
class Summary:
    """Counts for the closing message and the exit code."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    interrupted: bool = False

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.audio_seconds += outcome.audio_seconds

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def rate(self) -> float:
        """Audio seconds animated per wall-clock second."""
        return self.audio_seconds / max(self.elapsed, 1e-9)

    def exit_code(self) -> int:
        """0 all lines written or current, 1 some failed, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.failed else 0

    def line(self) -> str:
        return (
            f"{self.done} done, {self.skipped} already current, {self.failed} failed "
            f"of {self.total} lines; {self.audio_seconds:.1f} s of audio in {self.elapsed:.1f} s "
            f"({self.rate():.1f} audio s/s)"
        )


def failures_path(outdir: Path, shard: tuple[int, int] | None) -> Path:
    """OUTDIR/failures.jsonl, or one file per shard so farm tasks never share a file."""
    if shard is None:
        return outdir / FAILURES
    return outdir / f"failures.shard-{shard[0]}-of-{shard[1]}.jsonl"


def run_batch(
    rows: list[Line | BadRow],
    worker: Worker | None,
    failures: Path,
    *,
    jobs: int = 1,
    processes: bool = False,
    quiet: bool = False,
    outcomes: Callable[[Iterable[Line | BadRow]], Iterator[Outcome]] | None = None,
) -> Summary:
    """Run every row; failures go to `failures` as they happen (the file is removed when
    none failed). Ctrl-C stops after the running lines: their outputs are either whole
    or absent, and a rerun resumes."""
    summary = Summary(len(rows))
    failures.parent.mkdir(parents=True, exist_ok=True)
    if outcomes is None and worker is None:
        raise ValueError("give a worker or an outcomes function")
    stream = outcomes(rows) if outcomes is not None else _outcomes(rows, worker, jobs, processes)
    with failures.open("w") as log, _bar(len(rows), quiet) as bar:
        try:
            for outcome in stream:
                _record(outcome, summary, log, bar)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    if not summary.failed:
        failures.unlink(missing_ok=True)
    return summary


def _record(outcome: Outcome, summary: Summary, log: IO[str], bar: tqdm) -> None:
    summary.add(outcome)
    if outcome.status == "failed":
        log.write(json.dumps(outcome.failure_record()) + "\n")
        log.flush()
    bar.set_postfix_str(f"{summary.rate():.1f} audio s/s, {summary.failed} failed", refresh=False)
    bar.update(1)


def _bar(total: int, quiet: bool) -> tqdm:
    return tqdm(
        total=total,
        desc="batch",
        unit="line",
        file=sys.stderr,
        disable=quiet or not sys.stderr.isatty(),
        bar_format="{desc}: {n_fmt}/{total_fmt} lines |{bar}| {elapsed}<{remaining}{postfix}",
    )


def _outcomes(
    rows: list[Line | BadRow], worker: Worker, jobs: int, processes: bool
) -> Iterator[Outcome]:
    """Outcomes in completion order; with jobs > 1 at most `jobs` lines are in flight (on
    threads, or on worker processes that each keep warm engines), so an interrupt waits only
    for those."""
    if jobs <= 1:
        for row in rows:
            yield worker(row)
        return
    pool = _executor(jobs, processes)
    # each line's future, with the pool it runs on: a pool whose worker died fails all its
    # lines, and only the current pool is replaced when one of them reports it
    pending: dict[Future[Outcome], tuple[Line | BadRow, Executor]] = {}
    try:
        for row in rows:
            pending[pool.submit(worker, row)] = (row, pool)
            if len(pending) >= jobs:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    row_done, origin = pending.pop(future)
                    yield _result(future, row_done)
                    if origin is pool and _broke(future):
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = _executor(jobs, processes)  # a worker died: start afresh
        for future in as_completed(list(pending)):
            yield _result(future, pending.pop(future)[0])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _broke(future: Future[Outcome]) -> bool:
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


def _executor(jobs: int, processes: bool) -> Executor:
    if not processes:
        return ThreadPoolExecutor(jobs, thread_name_prefix="emospeaker-batch")
    context = multiprocessing.get_context("spawn")  # safe beside threads; same on every OS
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker)


def _start_worker() -> None:
    """A line worker process: one core each (no speech sub-pool), engines built before the
    first line, and Ctrl-C left to the parent, which lets running lines finish."""
    from ..engines import get_engine
    from ..speech.pool import WORKERS_ENV

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[WORKERS_ENV] = "0"
    get_engine("default")


def _result(future: Future[Outcome], row: Line | BadRow) -> Outcome:
    """The worker's Outcome, or a failure if its process died (pocketsphinx is C code)."""
    error = CancelledError() if future.cancelled() else future.exception()
    if error is None:
        return future.result()
    output = row.output if isinstance(row, Line) else ""
    message = f"worker process failed: {type(error).__name__}: {error}"
    return Outcome(row.row, output, "failed", error=message, audio=row.audio)
