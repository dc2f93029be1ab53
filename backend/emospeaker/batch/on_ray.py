"""A batch on a Ray cluster: actors that each hold warm engines, fed line after line.

Audio travels by path: the manifest's files and OUTDIR must be on storage every node
mounts at the same path (NFS, a cloud file system). Each actor writes its outputs there
itself (atomically, as locally) and returns only a small `Outcome` to the driver, which
shows progress and writes the same failures file as a local batch. An actor whose process
dies is restarted by Ray and its line retried (`max_restarts`, `max_task_retries`); a line
that still cannot run is a failure like any other. A bad line is not retried: it would
fail the same way again.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import EmoSpeakerError, InputError
from .lines import Outcome, process_line
from .manifest import BadRow, Line
from .runner import Summary, run_batch

RESTARTS = 3  # an actor's process may die this often (OOM, lost node) before its lines fail


class LineWorker:
    """One warm engine set in one Ray worker process (one CPU)."""

    def __init__(self, outdir: str, force: bool, max_audio_seconds: float) -> None:
        from ..engines import get_engine
        from ..speech.pool import WORKERS_ENV

        os.environ[WORKERS_ENV] = "0"  # this actor owns one CPU: decode in this process
        self._settings = dict(force=force, max_audio_seconds=max_audio_seconds)
        self._outdir = Path(outdir)
        get_engine("default")  # import and build once, before the first line

    def where(self) -> str:
        """This actor's node, for the driver's summary."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, row: Line | BadRow) -> Outcome:
        return process_line(row, self._outdir, **self._settings)


def run_on_ray(
    rows: list[Line | BadRow],
    outdir: Path,
    failures: Path,
    *,
    address: str = "auto",
    actors: int = 0,
    force: bool = False,
    max_audio_seconds: float,
    quiet: bool = False,
) -> Summary:
    """Run `rows` on the cluster at `address` ("auto": the one this machine belongs to,
    "local": start one for this run) with `actors` actors (0: one per cluster CPU)."""
    ray = _import_ray()
    ray.init(
        address=None if address == "local" else address,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if actors > cpus:  # an actor needs a CPU: the extra ones would wait for ever
            raise InputError(
                f"--jobs {actors}: the Ray cluster has {cpus} CPUs, one per actor",
                field="jobs",
            )
        count = actors or cpus
        worker = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(
            LineWorker
        )
        pool = [
            worker.remote(str(outdir.resolve()), force, max_audio_seconds) for _ in range(count)
        ]
        nodes = set(ray.get([a.where.remote() for a in pool]))
        if not quiet:
            print(f"emospeaker batch: {count} Ray actors on {len(nodes)} node(s)", file=sys.stderr)
        return run_batch(
            rows, None, failures, quiet=quiet, outcomes=lambda r: _outcomes(ray, pool, r)
        )
    finally:
        ray.shutdown()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EmoSpeakerError(
            "--ray needs Ray: pip install 'emospeaker[ray]' (on every node of the cluster)"
        ) from None
    return ray


def _outcomes(ray: Any, pool: list[Any], rows: list[Line | BadRow]) -> Iterator[Outcome]:
    """Two lines queued per actor (one running, one waiting), outcomes as they finish."""
    pending: dict[Any, tuple[Line | BadRow, Any]] = {}
    queue = iter(rows)
    free = [actor for _ in range(2) for actor in pool]
    try:
        while True:
            while free and (row := next(queue, None)) is not None:
                actor = free.pop(0)
                pending[actor.run.remote(row)] = (row, actor)
            if not pending:
                return
            [ref], _ = ray.wait(list(pending), num_returns=1)
            row, actor = pending.pop(ref)
            free.append(actor)
            yield _result(ray, ref, row)
    finally:
        for ref in pending:
            ray.cancel(ref)


def _result(ray: Any, ref: Any, row: Line | BadRow) -> Outcome:
    """The actor's Outcome, or a failure naming what Ray reported (actor lost for good)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        message = f"Ray: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        output = row.output if isinstance(row, Line) else ""
        return Outcome(row.row, output, "failed", error=message, audio=row.audio)
