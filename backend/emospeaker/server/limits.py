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
from dataclasses import dataclass, fields
from typing import TypeVar

from ..audio import DEFAULT_MAX_SECONDS
from ..errors import EmoSpeakerError

T = TypeVar("T")

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_FRAMES_PER_CHUNK = 2048  # ~68 s at 30 fps, ~475 kB: one message for most lines
MAX_FRAMES_PER_CHUNK = 8192  # keeps every message under 4 MB (gRPC's default receive limit)
MAX_TRANSCRIPT_CHARS = 100_000
MAX_START_FRAME = 10**9
# 15 min at 120 fps of 61 channels x 4 layers (128 MB of float32)
MAX_TRACK_VALUES = 32_000_000
# 15 min at 30 fps of 512 x 512 frames
MAX_RENDER_PIXELS = 8_000_000_000
MAX_EMOTION_KEYS = 10_000
MAX_PORTRAIT_PIXELS = 50_000_000
MAX_LAYERS = 16


def default_max_concurrent() -> int:
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """Everything a request may ask for; each has a `serve` flag and is in GetCapabilities."""

    max_audio_seconds: float = DEFAULT_MAX_SECONDS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_concurrent: int = 0  # 0: one per CPU core
    max_frames_per_chunk: int = MAX_FRAMES_PER_CHUNK
    max_transcript_chars: int = MAX_TRANSCRIPT_CHARS
    max_track_values: int = MAX_TRACK_VALUES
    max_render_pixels: int = MAX_RENDER_PIXELS
    max_emotion_keys: int = MAX_EMOTION_KEYS
    max_portrait_pixels: int = MAX_PORTRAIT_PIXELS
    max_layers: int = MAX_LAYERS

    def __post_init__(self) -> None:
        if self.max_concurrent <= 0:
            object.__setattr__(self, "max_concurrent", default_max_concurrent())
        for item in fields(self):
            if item.name != "max_concurrent" and not getattr(self, item.name) > 0:
                raise ValueError(f"limit {item.name} must be positive")


class Busy(EmoSpeakerError):
    """Every worker is taken."""


class ShuttingDown(EmoSpeakerError):
    """The server is draining (SIGTERM): new work goes to another replica (UNAVAILABLE)."""


class WorkerPool:
    """At most `size` jobs at once; a slot is refused (Busy) rather than queued.

    A call takes its slot before it parses its request (`with pool.slot() as slot:`), so
    `size` bounds the memory of parsing as well as of the work; `slot.run(fn)` hands the
    slot to the work, which frees it when it stops.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="emospeaker-work")
        self._lock = threading.Lock()
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    def slot(self) -> Slot:
        if not self._slots.acquire(blocking=False):
            raise Busy(
                f"server busy: all {self.size} workers are running (--max-concurrent); "
                "retry later or add replicas"
            )
        with self._lock:
            self._running += 1
        return Slot(self)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Take a slot and run `fn` in it."""
        return self.slot().run(fn)

    def _release(self) -> None:
        with self._lock:
            self._running -= 1
        self._slots.release()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Slot:
    """One taken place in a WorkerPool; freed on leaving `with`, unless `run` took it over."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = pool
        self._held = True

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._held:
            self._held = False
            self._pool._release()

    def run(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` on a worker thread; the slot is freed when it returns."""
        if not self._held:
            raise RuntimeError("this slot was already used")
        self._held = False
        try:
            future = self._pool._executor.submit(fn)
        except BaseException:
            self._pool._release()
            raise
        future.add_done_callback(lambda _: self._pool._release())
        return future
