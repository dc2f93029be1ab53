"""Phone recognition spread over processes: audio is cut at pauses into chunks that are
decoded side by side.

pocketsphinx holds the GIL while it decodes, so threads do not help; worker processes do.
One pool per process is started on first use and kept (a server animates many requests);
the calling thread decodes chunks too, so a call never waits for workers to start and a
one-core machine needs no workers at all. A worker that dies (pocketsphinx is C code) breaks
only the current call's pool: its work is redone in this process and the pool is replaced
on the next call. Workers are spawned (safe in threaded servers), so, as with any
multiprocessing, a script that animates must keep its top level under
`if __name__ == "__main__":`, or its workers fail to start and everything runs in the
calling process. Cancellation is checked between chunks, so it takes effect within one
chunk's decoding time (about 0.1 s).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import EmoSpeakerError
from ..jobs import Job
from .phones import SILENCE, PhoneSegment, merge_silences
from .recognize import (
    STANDARD,
    Alignment,
    DecoderSettings,
    align_phones,
    recognize_phones,
)

CHUNK_SECONDS = 4.0  # aim: enough context for the decoder, small enough to share out
MAX_CHUNK_SECONDS = 8.0
MIN_PAUSE_SECONDS = 0.12
SKIP_PAUSE_SECONDS = 0.4  # the inside of longer pauses is silence: not worth decoding
PAUSE_MARGIN_SECONDS = 0.15
PARENT_POLL_SECONDS = 0.5  # how soon a worker notices its parent died

WORKERS_ENV = "EMOSPEAKER_SPEECH_WORKERS"
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def worker_count() -> int:
    """Worker processes beside the calling thread: one per further core, or
    $EMOSPEAKER_SPEECH_WORKERS (a Ray actor or farm task that owns one core sets 0)."""
    if os.environ.get(WORKERS_ENV, "").strip().isdigit():
        return int(os.environ[WORKERS_ENV])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(0, cores - 1)


def _get_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _pool_lock:
        if _pool is None and worker_count() > 0:
            # spawn: safe in threaded servers (no fork of a process with threads)
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(
                worker_count(),
                mp_context=context,
                initializer=watch_parent,
                initargs=(os.getpid(),),
            )
        return _pool


def watch_parent(parent: int) -> None:
    """Run in each worker: end it as soon as `parent` (the process that started it) is gone,
    whatever ended the parent (kill -9 runs no clean-up), so no decoder is left orphaned.
    A thread that polls, not PR_SET_PDEATHSIG: that signal fires when the parent's *thread*
    that spawned the worker ends, which in a server is any worker thread."""
    if os.getppid() != parent:
        os._exit(0)
    threading.Thread(
        target=_exit_when_orphaned, args=(parent,), name="emospeaker-watch-parent", daemon=True
    ).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _discard_pool(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """Stop the worker processes (they also stop when this process exits)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def chunk_bounds(samples: np.ndarray, pauses: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Sample ranges that tile the audio, cut in the middle of pauses (or, when speech runs on
    for longer than MAX_CHUNK_SECONDS, at its quietest 10 ms), each about CHUNK_SECONDS."""
    total = len(samples)
    cuts = [int((a + b) / 2 * SAMPLE_RATE) for a, b in pauses if b - a >= MIN_PAUSE_SECONDS]
    bounds: list[tuple[int, int]] = []
    start = 0
    target, longest = int(CHUNK_SECONDS * SAMPLE_RATE), int(MAX_CHUNK_SECONDS * SAMPLE_RATE)
    while total - start > longest:
        usable = [c for c in cuts if start + target // 2 <= c <= start + longest]
        cut = (
            min(usable, key=lambda c: abs(c - start - target))
            if usable
            else _quietest(samples, start + target, start + longest)
        )
        bounds.append((start, cut))
        start = cut
    bounds.append((start, total))
    return _trim(bounds, pauses)


def _trim(
    bounds: list[tuple[int, int]], pauses: list[tuple[float, float]]
) -> list[tuple[int, int]]:
    """Drop the inside of long pauses at the ends of each chunk (the gaps become silence)."""
    margin = PAUSE_MARGIN_SECONDS
    long = [
        (int((a + margin) * SAMPLE_RATE), int((b - margin) * SAMPLE_RATE))
        for a, b in pauses
        if b - a >= SKIP_PAUSE_SECONDS
    ]
    out = []
    for a, b in bounds:
        for lo, hi in long:
            if lo <= a < hi:
                a = hi
            if lo < b <= hi:
                b = lo
        if b - a >= SAMPLE_RATE // 10:
            out.append((a, b))
    return out


def _quietest(samples: np.ndarray, lo: int, hi: int) -> int:
    hop = SAMPLE_RATE // 100
    count = (hi - lo) // hop
    frames = samples[lo : lo + count * hop].reshape(count, hop)
    return lo + int(np.argmin(np.mean(frames**2, axis=1))) * hop + hop // 2


def recognize_chunked(
    samples: np.ndarray,
    pauses: list[tuple[float, float]],
    settings: DecoderSettings = STANDARD,
    job: Job | None = None,
    in_workers: bool = True,
) -> list[PhoneSegment]:
    """Phones of the whole audio, decoded chunk by chunk (across processes if `in_workers`)."""
    job = job or Job()
    bounds = chunk_bounds(samples, pauses)
    parts = _run(recognize_phones, [(samples[a:b], settings) for a, b in bounds], job, in_workers)
    return _join(parts, [a / SAMPLE_RATE for a, _ in bounds], len(samples) / SAMPLE_RATE)


def start_alignment(samples: np.ndarray, words: list[str]) -> Future | None:
    """Begin align_phones in a worker process (None when there are no workers): the caller
    can recognise meanwhile, and a crash inside pocketsphinx cannot end this process."""
    pool = _get_pool()
    return None if pool is None else pool.submit(align_phones, samples, words)


def finish_alignment(
    pending: Future | None, samples: np.ndarray, words: list[str], job: Job | None = None
) -> Alignment:
    """The result of start_alignment (aligning here if it had no worker, or if the worker
    died, e.g. because the main module re-ran in it without a __main__ guard); cancellable."""
    job = job or Job()
    if pending is None:
        return align_phones(samples, words)
    try:
        job.progress("alignment", 0.5)  # a cancellation point even when it is already done
        while not wait([pending], timeout=0.05).done:
            job.progress("alignment", 0.5)
        job.check()
        return pending.result()
    except BrokenProcessPool:
        with _pool_lock:
            broken = _pool
        if broken is not None:
            _discard_pool(broken)
        return align_phones(samples, words)
    finally:
        pending.cancel()


def _run(
    task: Callable[..., list[PhoneSegment]],
    arguments: list[tuple],
    job: Job,
    in_workers: bool,
) -> list[list[PhoneSegment]]:
    """task(*args) for every entry: the calling thread takes chunks from the front, the
    workers from the back, until none are left."""
    pool = _get_pool() if in_workers and len(arguments) > 1 else None
    results: dict[int, list[PhoneSegment]] = {}
    queue = deque(range(len(arguments)))
    running: dict[Future, int] = {}
    try:
        while queue or running:
            while pool is not None and queue and len(running) < 2 * worker_count():
                index = queue.pop()
                running[pool.submit(task, *arguments[index])] = index
            if queue:
                index = queue.popleft()
                results[index] = task(*arguments[index])
            elif running:
                wait(running, timeout=0.05, return_when=FIRST_COMPLETED)
            for future in [f for f in running if f.done()]:
                index = running.pop(future)
                try:
                    results[index] = future.result()
                except BrokenProcessPool:
                    if pool is not None:
                        _discard_pool(pool)
                    pool = None
                    queue.append(index)  # decode it here instead
            job.progress("phones", len(results) / len(arguments))
    except BaseException:
        for future in running:
            future.cancel()
        raise
    if len(results) != len(arguments):
        raise EmoSpeakerError("phone recognition lost a chunk")
    return [results[i] for i in range(len(arguments))]


def _join(
    parts: list[list[PhoneSegment]], offsets: list[float], duration: float
) -> list[PhoneSegment]:
    """Chunks' phones on one timeline, silence in the gaps between chunks."""
    out: list[PhoneSegment] = []
    for part, offset in zip(parts, offsets, strict=True):
        out.append(PhoneSegment(SILENCE, _last_end(out), offset))
        out += [PhoneSegment(seg.phone, seg.start + offset, seg.end + offset) for seg in part]
    out.append(PhoneSegment(SILENCE, _last_end(out), duration))
    return merge_silences(out)


def _last_end(phones: list[PhoneSegment]) -> float:
    """End of the last segment that is not empty (0 when there is none)."""
    return next((seg.end for seg in reversed(phones) if seg.end > seg.start), 0.0)
