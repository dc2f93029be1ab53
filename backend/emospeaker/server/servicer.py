"""The EmoSpeaker service: checks a request, runs it on the bounded pool, streams progress,
then the result; any failure becomes one gRPC status and one log line."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ..errors import InputError
from ..wire import emospeaker_pb2 as pb
from ..wire import emospeaker_pb2_grpc as pb_grpc
from . import budget, convert
from .capabilities import CapabilitiesCache
from .limits import Busy, Limits, Slot, WorkerPool
from .log import RequestLog, event
from .plans import plan_animate, plan_render
from .status import ShuttingDown, forget_traceback, status_of
from .watch import Watch

SERVICE = pb.DESCRIPTOR.services_by_name["EmoSpeaker"].full_name
VIDEO_CHUNK_BYTES = 256 * 1024
RENDER_PREFIX = "emospeaker-render-"
MAX_LIGHT_REQUEST_BYTES = 4096  # GetCapabilities runs without a worker slot: parse little
COLLECT_AFTER_BYTES = 1024 * 1024  # a failed request this large is worth a gc pass


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _libc()


def parse(message_type: type, data: bytes) -> Any:
    """A request's bytes as a message; bytes that are not one are INVALID_ARGUMENT (gRPC
    itself would say INTERNAL)."""
    try:
        return message_type.FromString(data)
    except DecodeError as exc:
        raise InputError(
            f"the request is not a valid {message_type.DESCRIPTOR.full_name} message ({exc})",
            field="request",
        ) from None


def service_handler(servicer: Servicer) -> grpc.GenericRpcHandler:
    """The EmoSpeaker service's handlers, like the generated `add_..._to_server`, but
    receiving the request's bytes: a call parses them itself, once it holds a worker slot
    (see WorkerPool), so --max-concurrent bounds the memory parsing takes too."""
    methods = pb.DESCRIPTOR.services_by_name["EmoSpeaker"].methods_by_name
    handlers = {}
    for name, method in methods.items():
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[name] = make(
            getattr(servicer, name),
            request_deserializer=None,  # bytes
            response_serializer=_message_class(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def _message_class(descriptor: Any) -> type:
    return getattr(pb, descriptor.name)


class Servicer(pb_grpc.EmoSpeakerServicer):
    def __init__(
        self,
        limits: Limits,
        pool: WorkerPool,
        capabilities: CapabilitiesCache,
        checkpoint_dir: Path | None = None,
        workdir: Path | None = None,
    ):
        self.workdir = workdir  # where renders write (None: the system's temp folder)
        self._limits = limits
        self._pool = pool
        self._capabilities = capabilities
        self._checkpoint_dir = checkpoint_dir
        self.draining = threading.Event()  # set on shutdown: new work is refused

    def GetCapabilities(self, request: bytes, context: Any) -> pb.Capabilities:
        log = RequestLog("GetCapabilities", context.peer())
        try:
            if len(request) > MAX_LIGHT_REQUEST_BYTES:  # it has no fields: nothing to parse
                raise InputError(
                    f"a CapabilitiesRequest has no fields; got {len(request)} bytes",
                    field="request",
                )
            parse(pb.CapabilitiesRequest, request)
            return self._capabilities.get()
        except Exception as exc:
            try:
                _abort(exc, context, log)
            finally:
                forget_traceback(exc)
        finally:
            log.write()

    def Animate(self, request: bytes, context: Any) -> Iterator[pb.AnimateEvent]:
        return _guarded("Animate", context, lambda log: self._animate(request, context, log))

    def Render(self, request: bytes, context: Any) -> Iterator[pb.RenderEvent]:
        return _guarded("Render", context, lambda log: self._render(request, context, log))

    def _slot(self, data: bytes, log: RequestLog) -> Slot:
        """A worker slot, taken before the request is parsed (refused at once when busy)."""
        log.set(request_bytes=len(data))
        if self.draining.is_set():
            raise ShuttingDown("the server is shutting down; retry on another replica")
        return self._pool.slot()

    def _animate(self, data: bytes, context: Any, log: RequestLog) -> Iterator:
        started = time.perf_counter()
        with self._slot(data, log) as slot:
            budget.check_shape("Animate", data, self._limits)
            request = parse(pb.AnimateRequest, data)
            budget.check_animate(request, self._limits)
            plan = plan_animate(request, self._limits, self._checkpoint_dir)
            log.set(engine=plan.engine, fps=str(plan.fps))
            watch = Watch(context)
            per_chunk = plan.frames_per_chunk
            future = slot.run(partial(plan.run, watch.job))
        del request, plan  # the worker holds what it needs; a stream holds no request
        yield from watch.progress(future, lambda p: pb.AnimateEvent(progress=p))
        track, audio = future.result()
        log.set(audio_seconds=round(audio.duration, 3), frames=track.frames)
        seconds = time.perf_counter() - started
        yield from convert.track_events(track, per_chunk, seconds)

    def _render(self, data: bytes, context: Any, log: RequestLog) -> Iterator:
        started = time.perf_counter()
        workdir: Path | None = None
        future: Future | None = None
        try:
            with self._slot(data, log) as slot:
                budget.check_shape("Render", data, self._limits)
                request = parse(pb.RenderRequest, data)
                log.set(renderer=request.renderer)
                pixels = budget.check_render(request, self._limits)
                plan = plan_render(request, self._limits, pixels, self._checkpoint_dir)
                watch = Watch(context)
                workdir = Path(tempfile.mkdtemp(prefix=RENDER_PREFIX, dir=self.workdir))
                output = workdir / "render.mp4"
                future = slot.run(partial(plan.run, watch.job, output))
            del request, plan
            yield from watch.progress(future, lambda p: pb.RenderEvent(progress=p))
            track, path = future.result()
            log.set(frames=track.frames, video_bytes=path.stat().st_size)
            with open(path, "rb") as f:
                while chunk := f.read(VIDEO_CHUNK_BYTES):
                    yield pb.RenderEvent(video=pb.VideoChunk(data=chunk))
            yield pb.RenderEvent(
                summary=pb.RenderSummary(
                    frames=track.frames,
                    seconds=time.perf_counter() - started,
                    mime_type="video/mp4",
                    provenance_json=convert.provenance_json(track.provenance),
                )
            )
        finally:
            if future is not None:
                watch.job.cancel()
            if workdir is not None:
                _remove_when_done(workdir, future)


def _remove_when_done(workdir: Path, future: Future | None) -> None:
    """Delete the render's folder now, or once its worker stops writing to it."""
    if future is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        future.add_done_callback(lambda _: shutil.rmtree(workdir, ignore_errors=True))


def _guarded(
    method: str, context: Any, body: Callable[[RequestLog], Iterator[Any]]
) -> Iterator[Any]:
    """Run a streaming body; map its failure to a status; always write the log line."""
    log = RequestLog(method, context.peer())
    held_memory = True  # False for refusals before a slot: they parsed nothing
    try:
        yield from body(log)
    except GeneratorExit:  # gRPC closed the stream: the client went away mid-response
        log.fail("CANCELLED", "the client went away")
        raise
    except Exception as exc:
        held_memory = not isinstance(exc, (Busy, ShuttingDown))
        try:
            _abort(exc, context, log)
        finally:
            forget_traceback(exc)
    finally:
        log.write()
        big = log.fields.get("request_bytes", 0) > COLLECT_AFTER_BYTES
        if held_memory and big and log.status != "OK":
            release_memory()


def release_memory() -> None:
    """After a big failed request: free what it left in reference cycles, and hand the
    freed heap back to the system (glibc keeps it per thread otherwise, so RSS would stay
    at the request's peak)."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _abort(exc: Exception, context: Any, log: RequestLog) -> None:
    code, message, metadata = status_of(exc, context)
    log.fail(code.name, message)
    if code == grpc.StatusCode.INTERNAL:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        event("internal_error", incident=dict(metadata)["emospeaker-incident"], traceback=trace)
    if metadata:
        context.set_trailing_metadata(metadata)
    context.abort(code, message)
