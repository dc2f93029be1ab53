"""Progress reporting and cancellation for long work, shared by the CLI, server and engines.

An engine receives a `Job`, calls `job.progress(stage, fraction)` between steps and gets
`Cancelled` raised there once the caller cancels: one mechanism for a CLI progress bar,
gRPC progress messages and client cancellation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import Cancelled

ProgressCallback = Callable[[str, float], None]


@dataclass
class Job:
    """Carries a progress callback and a cancel flag through a call tree."""

    on_progress: ProgressCallback | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _offset: float = 0.0
    _scale: float = 1.0

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        """Raise `Cancelled` if the caller has cancelled."""
        if self.cancel_event.is_set():
            raise Cancelled("cancelled by the caller")

    def progress(self, stage: str, fraction: float) -> None:
        """Report `fraction` (0..1) of this job's share done in `stage`; raises if cancelled."""
        self.check()
        if self.on_progress is not None:
            done = self._offset + self._scale * min(max(fraction, 0.0), 1.0)
            self.on_progress(stage, done)

    def part(self, start: float, end: float) -> Job:
        """A view of this job whose 0..1 maps onto [start, end] of this job's range."""
        return Job(
            on_progress=self.on_progress,
            cancel_event=self.cancel_event,
            _offset=self._offset + self._scale * start,
            _scale=self._scale * (end - start),
        )
