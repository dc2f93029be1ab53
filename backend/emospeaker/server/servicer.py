"""The EmoSpeaker service: checks a request, runs it on the bounded pool, streams progress,
then the result; any failure becomes one gRPC status and one log line."""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from ..errors import InputError
from ..wire import emospeaker_pb2 as pb
from ..wire import emospeaker_pb2_grpc as pb_grpc
from . import convert
from .capabilities import CapabilitiesCache
from .limits import Limits, WorkerPool
from .log import RequestLog, event
from .plans import plan_animate, plan_render
from .status import status_of
from .watch import Watch

SERVICE = pb.DESCRIPTOR.services_by_name["EmoSpeaker"].full_name
VIDEO_CHUNK_BYTES = 256 * 1024


class Malformed:
    """Stands in for a request whose bytes are not a valid message, so the servicer can
    answer INVALID_ARGUMENT (gRPC itself would say INTERNAL)."""

    def __init__(self, message_type: type, error: Exception) -> None:
        self.problem = (
            f"the request is not a valid {message_type.DESCRIPTOR.full_name} message ({error})"
        )


def _lenient(message_type: type) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_type.FromString(data)
        except DecodeError as exc:
            return Malformed(message_type, exc)

    return parse


def _parsed(request: Any) -> None:
    if isinstance(request, Malformed):
        raise InputError(request.problem, field="request")


def service_handler(servicer: Servicer) -> grpc.GenericRpcHandler:
    """The EmoSpeaker service's handlers, like the generated `add_..._to_server`, but
    with lenient request parsing (see `Malformed`)."""
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
            request_deserializer=_lenient(_message_class(method.input_type)),
            response_serializer=_message_class(method.output_type).SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def _message_class(descriptor: Any) -> type:
    return getattr(pb, descriptor.name)


class Servicer(pb_grpc.EmoSpeakerServicer):
    def __init__(self, limits: Limits, pool: WorkerPool, capabilities: CapabilitiesCache):
        self._limits = limits
        self._pool = pool
        self._capabilities = capabilities

    def GetCapabilities(self, request: pb.CapabilitiesRequest, context: Any) -> pb.Capabilities:
        log = RequestLog("GetCapabilities", context.peer())
        try:
            _parsed(request)
            return self._capabilities.get()
        except Exception as exc:
            _abort(exc, context, log)
        finally:
            log.write()

    def Animate(self, request: pb.AnimateRequest, context: Any) -> Iterator[pb.AnimateEvent]:
        return _guarded("Animate", context, lambda log: self._animate(request, context, log))

    def Render(self, request: pb.RenderRequest, context: Any) -> Iterator[pb.RenderEvent]:
        return _guarded("Render", context, lambda log: self._render(request, context, log))

    def _animate(self, request: pb.AnimateRequest, context: Any, log: RequestLog) -> Iterator:
        started = time.perf_counter()
        _parsed(request)
        log.set(request_bytes=request.ByteSize())
        plan = plan_animate(request, self._limits)
        log.set(engine=plan.engine, fps=str(plan.fps))
        watch = Watch(context)
        future = self._pool.submit(lambda: plan.run(watch.job))
        yield from watch.progress(future, lambda p: pb.AnimateEvent(progress=p))
        track, audio = future.result()
        log.set(audio_seconds=round(audio.duration, 3), frames=track.frames)
        seconds = time.perf_counter() - started
        yield from convert.track_events(track, plan.frames_per_chunk, seconds)

    def _render(self, request: pb.RenderRequest, context: Any, log: RequestLog) -> Iterator:
        started = time.perf_counter()
        _parsed(request)
        log.set(request_bytes=request.ByteSize(), renderer=request.renderer)
        plan = plan_render(request, self._limits)
        watch = Watch(context)
        workdir = Path(tempfile.mkdtemp(prefix="emospeaker-render-"))
        future: Future | None = None
        try:
            output = workdir / "render.mp4"
            future = self._pool.submit(lambda: plan.run(watch.job, output))
            yield from watch.progress(future, lambda p: pb.RenderEvent(progress=p))
            track, path = future.result()
            log.set(frames=track.frames, video_bytes=path.stat().st_size)
            with open(path, "rb") as f:
                while data := f.read(VIDEO_CHUNK_BYTES):
                    yield pb.RenderEvent(video=pb.VideoChunk(data=data))
            yield pb.RenderEvent(
                summary=pb.RenderSummary(
                    frames=track.frames,
                    seconds=time.perf_counter() - started,
                    mime_type="video/mp4",
                    provenance_json=convert.provenance_json(track.provenance),
                )
            )
        finally:
            watch.job.cancel()
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
    try:
        yield from body(log)
    except GeneratorExit:  # gRPC closed the stream: the client went away mid-response
        log.fail("CANCELLED", "the client went away")
        raise
    except Exception as exc:
        _abort(exc, context, log)
    finally:
        log.write()


def _abort(exc: Exception, context: Any, log: RequestLog) -> None:
    code, message, metadata = status_of(exc, context)
    log.fail(code.name, message)
    if code == grpc.StatusCode.INTERNAL:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        event("internal_error", incident=dict(metadata)["emospeaker-incident"], traceback=trace)
    if metadata:
        context.set_trailing_metadata(metadata)
    context.abort(code, message)
