"""What one server accepts, and the bounded pool its heavy calls run on.

Beyond `max_concurrent` running calls a new one is refused at once (RESOURCE_EXHAUSTED,
`emospeaker-busy`): a queue would only hide overload from the load balancer and the user.
A slot is held until the work itself has stopped (not merely the RPC), so a cancelled call
frees its worker exactly when the engine returns.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ..audio import DEFAULT_MAX_SECONDS
from ..errors import EmoSpeakerError

T = TypeVar("T")

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_FRAMES_PER_CHUNK = 2048  # ~68 s at 30 fps, ~475 kB: one message for most lines
MAX_FRAMES_PER_CHUNK = 8192  # keeps every message under 4 MB (gRPC's default receive limit)
MAX_TRANSCRIPT_CHARS = 100_000
MAX_START_FRAME = 10**9


def default_max_concurrent() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    max_audio_seconds: float = DEFAULT_MAX_SECONDS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_concurrent: int = 0  # 0: one per CPU core
    max_frames_per_chunk: int = MAX_FRAMES_PER_CHUNK
    max_transcript_chars: int = MAX_TRANSCRIPT_CHARS

    def __post_init__(self) -> None:
        if self.max_concurrent <= 0:
            object.__setattr__(self, "max_concurrent", default_max_concurrent())
        if self.max_audio_seconds <= 0 or self.max_message_bytes <= 0:
            raise ValueError("limits must be positive")


class Busy(EmoSpeakerError):
    """Every worker is taken."""


class WorkerPool:
    """At most `size` jobs at once; `submit` refuses (Busy) rather than queueing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="emospeaker-work")
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Busy(
                f"server busy: all {self.size} workers are running (--max-concurrent); "
                "retry later or add replicas"
            )
        with self._lock:
            self._running += 1
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: Future | None) -> None:
        with self._lock:
            self._running -= 1
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
