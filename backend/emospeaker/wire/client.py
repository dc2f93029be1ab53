"""EmoSpeaker gRPC client: build requests, stream events, assemble a plain-Python track.

Imports only grpcio, protobuf, the stdlib and the stubs beside it (relatively), so the Blender
add-on bundles this package as is. Arrays are `array('f')`, row-major, ready for
`foreach_set`.

    with Client("127.0.0.1:50051") as client:
        track = client.animate_track(audio_file("line.wav"), fps=(24, 1), emotion={"happy": 0.8})
        jaw = track.column("jawOpen")            # array('f') of the combined values

Cancel from another thread with `stream.cancel()` (or a `cancel_event`), or return False from
`on_progress`. Failures raise a `ClientError` subclass carrying the gRPC code, the server's
message and, when one field is at fault, its name.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from . import emospeaker_pb2 as pb
from . import emospeaker_pb2_grpc as pb_grpc
from .errors import (
    AuthenticationFailed,
    CallCancelled,
    ClientError,
    DeadlineExceeded,
    EngineUnavailable,
    InvalidRequest,
    LimitExceeded,
    NotSupported,
    ServerBusy,
    ServerUnavailable,
    from_rpc_error,
)
from .requests import (
    animate_request,
    audio_bytes,
    audio_file,
    audio_pcm,
    emotion_curves,
    emotion_keys,
    rational,
    render_request,
)
from .track import Track, TrackAssembler, track_message

__all__ = [
    "Client", "Track", "RenderResult", "AnimateStream", "RenderStream", "TrackAssembler",
    "audio_file", "audio_bytes", "audio_pcm", "rational", "emotion_keys", "emotion_curves",
    "animate_request", "render_request", "track_message",
    "ClientError", "InvalidRequest", "LimitExceeded", "ServerBusy", "AuthenticationFailed",
    "ServerUnavailable", "DeadlineExceeded", "CallCancelled", "NotSupported", "EngineUnavailable",
    "channel_target", "service_config",
]  # fmt: skip

ProgressCallback = Callable[[str, float], "bool | None"]
VIDEO_SUFFIX = ".part"
SERVICE = "emospeaker.v1.EmoSpeaker"
# UNAVAILABLE: a replica down or draining; RESOURCE_EXHAUSTED: busy (limit refusals carry
# retry pushback -1 and are not retried); CANCELLED: a call that reached a replica as it shut
# down, before any reply. gRPC retries only what the server sent before replying, so a call
# the client itself cancels (Ctrl-C, a deadline) is never retried.
RETRY_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "CANCELLED")
RETRY_BUFFER_BYTES = 64 * 1024 * 1024  # a request this large can still be replayed


def service_config(attempts: int = 5) -> str:
    """gRPC's own balancing and retries: calls go round-robin over every address a target
    names, and (with attempts > 1) a call refused with UNAVAILABLE (server down or draining)
    or RESOURCE_EXHAUSTED (all workers busy) before it started is retried on the next one.
    A server marks limits that a retry cannot fix as not retryable (retry pushback)."""
    config: dict[str, Any] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if attempts <= 1:
        return json.dumps(config)
    retry = {
        "maxAttempts": attempts,
        "initialBackoff": "0.2s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": list(RETRY_CODES),
    }
    config["methodConfig"] = [{"name": [{"service": SERVICE}], "retryPolicy": retry}]
    return json.dumps(config)


def channel_target(address: str) -> str:
    """The gRPC target for `address`: `host:port` (a DNS name gives all its addresses) as
    is; `host1:port,host2:port` as one `ipv4:`/`ipv6:` target listing every address."""
    if "," not in address:
        return address
    found: dict[int, list[str]] = {socket.AF_INET: [], socket.AF_INET6: []}
    for part in filter(None, (p.strip() for p in address.split(","))):
        host, sep, port = part.rpartition(":")
        if not sep or not port.isdigit():
            raise _bad_server(f"{part!r} in {address!r} must be HOST:PORT")
        host = host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, int(port), 0, socket.SOCK_STREAM)
        except OSError as exc:
            raise _bad_server(f"cannot resolve {host!r} in {address!r}: {exc}") from None
        for family, _, _, _, sockaddr in infos:
            if family in found and sockaddr[0] not in found[family]:
                ip = sockaddr[0] if family == socket.AF_INET else f"[{sockaddr[0]}]"
                found[family].append(f"{ip}:{sockaddr[1]}")
    if found[socket.AF_INET] and found[socket.AF_INET6]:
        raise _bad_server(
            f"{address!r} mixes IPv4 and IPv6 replicas; one gRPC target lists one family: "
            "give all replicas in one of them (or one DNS name)"
        )
    if found[socket.AF_INET]:
        return "ipv4:" + ",".join(found[socket.AF_INET])
    return "ipv6:" + ",".join(found[socket.AF_INET6])


def _bad_server(message: str) -> InvalidRequest:
    return InvalidRequest("INVALID_ARGUMENT", message, field="server")


class _Stream:
    """A running server-streaming call: iterate it for events; `cancel()` from any thread."""

    def __init__(self, call: Any, address: str, cancel_event: threading.Event | None) -> None:
        self._call, self._address = call, address
        if cancel_event is not None:
            threading.Thread(target=self._watch, args=(cancel_event,), daemon=True).start()

    def _watch(self, event: threading.Event) -> None:
        while not self._call.done():
            if event.wait(0.05):
                self._call.cancel()
                return

    def cancel(self) -> None:
        self._call.cancel()

    def __iter__(self) -> Iterator[Any]:
        try:
            for message in self._call:
                kind = message.WhichOneof("event")
                if kind is not None:  # None: an event kind newer than these stubs
                    yield getattr(message, kind)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self._address) from None


def _report(on_progress: ProgressCallback | None, stream: _Stream, event: pb.Progress) -> None:
    if on_progress is not None and on_progress(event.stage, event.fraction) is False:
        stream.cancel()


class AnimateStream(_Stream):
    """Yields pb.Progress, pb.TrackHeader, pb.FrameChunk, pb.LayerChunk, then pb.Summary."""

    def track(self, on_progress: ProgressCallback | None = None) -> Track:
        """Consume the stream into a `Track`; `on_progress(stage, fraction)` returning False
        cancels the call."""
        assembler = TrackAssembler()
        for event in self:
            if isinstance(event, pb.Progress):
                _report(on_progress, self, event)
            else:
                assembler.add(event)
        return assembler.track()


@dataclass
class RenderResult:
    frames: int
    seconds: float
    mime_type: str
    provenance: dict[str, Any]
    path: str | None = None  # where the video was written
    data: bytes | None = None  # the video, when no path was given


class RenderStream(_Stream):
    """Yields pb.Progress, pb.VideoChunk, then pb.RenderSummary."""

    def save(
        self,
        output: str | os.PathLike[str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RenderResult:
        """Write the video to `output` (atomically: no partial file on failure) or keep it in
        memory when `output` is None."""
        if output is None:
            parts: list[bytes] = []
            summary = self._consume(parts.append, on_progress)
            return _result(summary, data=b"".join(parts))
        path = os.fspath(output)
        partial = path + VIDEO_SUFFIX
        try:
            with open(partial, "wb") as f:
                summary = self._consume(f.write, on_progress)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        return _result(summary, path=path)

    def _consume(
        self, write: Callable[[bytes], Any], on_progress: ProgressCallback | None
    ) -> pb.RenderSummary:
        summary = None
        for event in self:
            if isinstance(event, pb.Progress):
                _report(on_progress, self, event)
            elif isinstance(event, pb.VideoChunk):
                write(event.data)
            elif isinstance(event, pb.RenderSummary):
                summary = event
        if summary is None:
            raise ClientError("DATA_LOSS", "the render stream ended without a summary")
        return summary


def _result(summary: pb.RenderSummary, **where: Any) -> RenderResult:
    provenance = json.loads(summary.provenance_json) if summary.provenance_json else {}
    return RenderResult(summary.frames, summary.seconds, summary.mime_type, provenance, **where)


# ---------------------------------------------------------------------------------------------
# The client


class Client:
    """A connection to an EmoSpeaker server, or to several replicas.

    `address` is `host:port`, a DNS name whose every address serves, or `h1:p1,h2:p2`;
    calls are spread round-robin and retried when a replica is down or busy
    (`service_config`) when `retry` is set (as `emospeaker batch` does; an interactive
    caller may prefer to hear "busy" at once).
    `token` is sent as `authorization: Bearer` on every call. TLS is used when
    `tls_root_cert` (PEM bytes or a file path) or `tls=True` (system roots) is given;
    `tls_server_name` overrides the name checked against the certificate. `timeout` is the
    default deadline in seconds for every call (None: none).
    """

    def __init__(
        self,
        address: str,
        token: str | None = None,
        tls_root_cert: bytes | str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        *,
        tls: bool | None = None,
        tls_server_name: str | None = None,
        retry: bool = False,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        options.append(("grpc.service_config", service_config(5 if retry else 1)))
        if retry:  # gRPC keeps only 256 KiB of a call to replay it: a line's audio is more
            options += [
                ("grpc.per_rpc_retry_buffer_size", RETRY_BUFFER_BYTES),
                ("grpc.retry_buffer_size", 4 * RETRY_BUFFER_BYTES),
            ]
        target = channel_target(address)
        if target != address:  # TLS checks the first name given, not an IP
            options.append(("grpc.default_authority", address.split(",")[0].strip()))
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls_root_cert is not None or tls:
            root = tls_root_cert
            if isinstance(root, (str, os.PathLike)):
                with open(root, "rb") as f:
                    root = f.read()
            creds = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb_grpc.EmoSpeakerStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel connects (e.g. after starting a local server)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServerUnavailable(
                "UNAVAILABLE", f"no server answered within {timeout:g} s", address=self.address
            ) from None

    def capabilities(self, timeout: float | None = None) -> pb.Capabilities:
        try:
            return self._stub.GetCapabilities(
                pb.CapabilitiesRequest(), timeout=self._timeout(timeout), metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.address) from None

    def animate(
        self,
        request: pb.AnimateRequest | None = None,
        *,
        timeout: float | None = None,
        cancel_event: threading.Event | None = None,
        **fields: Any,
    ) -> AnimateStream:
        """Start Animate with a request (or `animate_request(**fields)`); iterate for events."""
        request = request if request is not None else animate_request(**fields)
        call = self._stub.Animate(request, timeout=self._timeout(timeout), metadata=self._metadata)
        return AnimateStream(call, self.address, cancel_event)

    def animate_track(
        self,
        audio: pb.Audio | str | os.PathLike[str] | bytes | pb.AnimateRequest,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        cancel_event: threading.Event | None = None,
        **fields: Any,
    ) -> Track:
        """Animate and return the whole `Track` (see `animate_request` for the fields)."""
        if isinstance(audio, pb.AnimateRequest):
            request = audio
        else:
            request = animate_request(audio, **fields)
        stream = self.animate(request, timeout=timeout, cancel_event=cancel_event)
        return stream.track(on_progress)

    def render(
        self,
        request: pb.RenderRequest,
        *,
        timeout: float | None = None,
        cancel_event: threading.Event | None = None,
    ) -> RenderStream:
        """Start Render; iterate for events or call `.save(path)`."""
        call = self._stub.Render(request, timeout=self._timeout(timeout), metadata=self._metadata)
        return RenderStream(call, self.address, cancel_event)

    def render_to(
        self,
        request: pb.RenderRequest,
        output: str | os.PathLike[str] | None,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        cancel_event: threading.Event | None = None,
    ) -> RenderResult:
        """Render and write the video to `output` (or return its bytes when None)."""
        stream = self.render(request, timeout=timeout, cancel_event=cancel_event)
        return stream.save(output, on_progress)
