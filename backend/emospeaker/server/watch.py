"""Between a worker and its RPC: progress flows out, cancellation flows in."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import grpc

from ..errors import Cancelled
from ..jobs import Job
from ..wire import emospeaker_pb2 as pb

PROGRESS_STEP = 0.01  # smaller advances within a stage are not worth a message
_DONE, _ENDED = object(), object()


class Watch:
    """Bridges a worker's Job and its RPC: progress goes to a queue the RPC drains, and the
    RPC ending (cancel, deadline, shutdown) cancels the job."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.job = Job(on_progress=lambda stage, f: self._queue.put((stage, f)))
        if not context.add_callback(self._ended):
            self._ended()

    def _ended(self) -> None:
        self.job.cancel()
        self._queue.put(_ENDED)

    def progress(self, future: Future, wrap: Callable[[pb.Progress], Any]) -> Iterator[Any]:
        """Yield wrapped Progress messages until `future` is done."""
        future.add_done_callback(lambda _: self._queue.put(_DONE))
        sent_stage, sent_fraction = None, -1.0
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            if _ENDED in items:
                raise Cancelled("the call ended before the work finished")
            updates = [i for i in items if isinstance(i, tuple)]
            if updates:
                stage, fraction = updates[-1]
                if stage != sent_stage or fraction >= sent_fraction + PROGRESS_STEP:
                    sent_stage, sent_fraction = stage, fraction
                    yield wrap(pb.Progress(stage=stage, fraction=fraction))
            if _DONE in items:
                return
