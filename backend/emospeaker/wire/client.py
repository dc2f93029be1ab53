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
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import grpc

from . import emospeaker_pb2 as pb
from . import emospeaker_pb2_grpc as pb_grpc
from .packed import append_floats, float_bytes

__all__ = [
    "Client", "Track", "RenderResult", "AnimateStream", "RenderStream", "TrackAssembler",
    "audio_file", "audio_bytes", "audio_pcm", "rational", "emotion_keys", "emotion_curves",
    "animate_request", "render_request", "track_message",
    "ClientError", "InvalidRequest", "LimitExceeded", "ServerBusy", "AuthenticationFailed",
    "ServerUnavailable", "DeadlineExceeded", "CallCancelled", "NotSupported", "EngineUnavailable",
]  # fmt: skip

ProgressCallback = Callable[[str, float], "bool | None"]
VIDEO_SUFFIX = ".part"

# ---------------------------------------------------------------------------------------------
# Errors


class ClientError(Exception):
    """A call failed. `code` is the gRPC status name, `details` the server's message and
    `field` the request field at fault (when the server named one)."""

    def __init__(self, code: str, details: str, *, field: str | None = None, address: str = ""):
        self.code, self.details, self.field, self.address = code, details, field, address
        where = f" ({address})" if address else ""
        super().__init__(f"{details}{where} [{code}]")


class InvalidRequest(ClientError):
    """INVALID_ARGUMENT: fix the named field."""


class LimitExceeded(ClientError):
    """RESOURCE_EXHAUSTED: the input is over one of the server's limits."""


class ServerBusy(LimitExceeded):
    """RESOURCE_EXHAUSTED because every worker is busy: retry later."""


class AuthenticationFailed(ClientError):
    """UNAUTHENTICATED / PERMISSION_DENIED: wrong or missing token."""


class ServerUnavailable(ClientError):
    """UNAVAILABLE: no server at the address, TLS mismatch, or it is shutting down."""


class DeadlineExceeded(ClientError, TimeoutError):
    """The call's deadline passed before it finished."""


class CallCancelled(ClientError):
    """The call was cancelled (by this client, or the server went away)."""


class NotSupported(ClientError):
    """UNIMPLEMENTED: the server lacks this feature (e.g. a renderer not built yet)."""


class EngineUnavailable(ClientError):
    """FAILED_PRECONDITION: e.g. the engine's dependencies are not installed on the server."""


_ERRORS: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.RESOURCE_EXHAUSTED: LimitExceeded,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationFailed,
    grpc.StatusCode.PERMISSION_DENIED: AuthenticationFailed,
    grpc.StatusCode.UNAVAILABLE: ServerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: CallCancelled,
    grpc.StatusCode.UNIMPLEMENTED: NotSupported,
    grpc.StatusCode.FAILED_PRECONDITION: EngineUnavailable,
}


def _error(exc: grpc.RpcError, address: str) -> ClientError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    trailing = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
    cls = _ERRORS.get(code, ClientError)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        if trailing.get("emospeaker-busy"):
            cls = ServerBusy
        elif "larger than max" in details:
            details += (
                "; the request is over the server's message size limit: send compressed "
                "audio (flac, ogg) or raise the server's --max-message-mb"
            )
    elif code == grpc.StatusCode.UNAVAILABLE:
        details = f"cannot reach the EmoSpeaker server: {details}"
    elif code == grpc.StatusCode.UNAUTHENTICATED and not details:
        details = "the server needs a token (authorization: Bearer)"
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    return cls(name, details, field=trailing.get("emospeaker-field"), address=address)


# ---------------------------------------------------------------------------------------------
# Request builders


def audio_file(path: str | os.PathLike[str], name: str | None = None) -> pb.Audio:
    """The bytes of a sound file (wav, flac, ogg, mp3, m4a, a video with sound)."""
    with open(path, "rb") as f:
        return pb.Audio(encoded=f.read(), name=name or os.fspath(path))


def audio_bytes(data: bytes, name: str = "") -> pb.Audio:
    """The bytes of a sound file already in memory."""
    return pb.Audio(encoded=bytes(data), name=name)


def audio_pcm(
    samples: bytes | bytearray | memoryview | array,
    sample_rate: int,
    *,
    channels: int = 1,
    float32: bool | None = None,
    name: str = "",
) -> pb.Audio:
    """Raw interleaved PCM: int16 (`array('h')` or bytes) or float32 in [-1, 1] (`array('f')`).

    For plain bytes say `float32=True` if they hold floats; the default is int16.
    """
    if isinstance(samples, array):
        if samples.typecode not in "hf":
            raise ValueError("PCM arrays must be array('h') (int16) or array('f') (float32)")
        is_float = samples.typecode == "f"
        data = samples.tobytes()
        if float32 is not None and float32 != is_float:
            raise ValueError("float32= contradicts the array's typecode")
        float32 = is_float
    else:
        data = bytes(samples)
    fmt = pb.Pcm.FLOAT32 if float32 else pb.Pcm.INT16
    pcm = pb.Pcm(samples=data, sample_rate=int(sample_rate), channels=int(channels), format=fmt)
    return pb.Audio(pcm=pcm, name=name)


def rational(fps: Any) -> pb.Rational:
    """Frame rate as an exact ratio: 24, "25", "30000/1001", (24000, 1001), a Fraction, or a
    decimal such as 29.97 (the backend's parse_fps rules, without importing it)."""
    if isinstance(fps, pb.Rational):
        return fps
    if isinstance(fps, tuple):
        value = Fraction(int(fps[0]), int(fps[1]))
    elif isinstance(fps, (Fraction, int)):
        value = Fraction(fps)
    elif isinstance(fps, str) and "/" in fps:
        num, den = fps.split("/", 1)
        value = Fraction(int(num), int(den))
    else:  # a decimal near an NTSC rate (23.976, 29.97, 59.94) means that n/1001 rate
        value = Fraction(str(fps).strip())
        ntsc = Fraction(round(value * 1001 / 1000) * 1000, 1001)
        if value.denominator != 1 and ntsc > 0 and abs(float(value - ntsc)) < 0.005:
            value = ntsc
    return pb.Rational(num=value.numerator, den=value.denominator)


def emotion_keys(keys: Iterable[Any]) -> pb.EmotionKeys:
    """Keys from dicts `{"time": s | "frame": f, "emotions": {cat: x} | "emotion": cat,
    "intensity": x, "interpolation": mode}` or tuples `(seconds, {cat: x}[, mode])`."""
    out = pb.EmotionKeys()
    for key in keys:
        if isinstance(key, pb.EmotionKey):
            out.keys.append(key)
            continue
        if isinstance(key, tuple):
            seconds, state, *mode = key
            key = {"time": seconds, "emotions": state, "interpolation": mode[0] if mode else ""}
        state = key.get("emotions")
        if state is None:
            state = {key["emotion"]: key.get("intensity", 1.0)}
        item = pb.EmotionKey(
            intensities={str(k): float(v) for k, v in state.items()},
            interpolation=key.get("interpolation", ""),
        )
        if "frame" in key:
            item.frame = float(key["frame"])
        else:
            item.seconds = float(key.get("time", 0.0))
        out.keys.append(item)
    return out


def emotion_curves(values: Iterable[Any], frames: int | None = None) -> pb.EmotionCurves:
    """Dense intensities [frames, 8] in Capabilities.emotions order: rows, or a flat sequence
    with `frames` given."""
    if frames is None:
        rows = [list(r) for r in values]
        flat = array("f", [v for r in rows for v in r])
        frames = len(rows)
    else:
        flat = array("f", values)
    curves = pb.EmotionCurves(frames=int(frames))
    append_floats(curves, "values", _le_bytes(flat))
    return curves


def _floats(message: Any, name: str) -> array:
    """A repeated float field as array('f'), fast (see .packed)."""
    out = array("f")
    out.frombytes(float_bytes(message, name))
    if sys.byteorder == "big":
        out.byteswap()
    return out


def _le_bytes(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array("f", values)
        values.byteswap()
    return values.tobytes()


def animate_request(
    audio: pb.Audio | str | os.PathLike[str] | bytes,
    *,
    fps: Any = 30,
    start_frame: int = 0,
    emotion: Mapping[str, float] | Iterable[Any] | pb.EmotionKeys | pb.EmotionCurves | None = None,
    transcript: str = "",
    engine: str = "",
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    frames_per_chunk: int = 0,
) -> pb.AnimateRequest:
    """An AnimateRequest. `emotion` is a constant state `{"happy": 0.8}`, keys (see
    `emotion_keys`), or `emotion_curves(...)`; None means no emotion."""
    if isinstance(audio, (str, os.PathLike)):
        audio = audio_file(audio)
    elif isinstance(audio, (bytes, bytearray, memoryview)):
        audio = audio_bytes(bytes(audio))
    request = pb.AnimateRequest(
        audio=audio,
        fps=rational(fps),
        start_frame=int(start_frame),
        transcript=transcript or "",
        engine=engine or "",
        options={str(k): _option_text(v) for k, v in (options or {}).items()},
        seed=int(seed),
        frames_per_chunk=int(frames_per_chunk),
    )
    if isinstance(emotion, pb.EmotionCurves):
        request.curves.CopyFrom(emotion)
    elif isinstance(emotion, pb.EmotionKeys):
        request.keys.CopyFrom(emotion)
    elif isinstance(emotion, Mapping):
        request.keys.CopyFrom(emotion_keys([(0.0, emotion, "constant")]))
    elif emotion is not None:
        request.keys.CopyFrom(emotion_keys(emotion))
    return request


def _option_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def render_request(
    renderer: str,
    *,
    animate: pb.AnimateRequest | None = None,
    track: Track | pb.Track | None = None,
    audio: pb.Audio | str | os.PathLike[str] | None = None,
    portrait: bytes | str | os.PathLike[str] | None = None,
    size: int = 512,
    face_index: int | None = None,
) -> pb.RenderRequest:
    """A RenderRequest: animate-then-render (`animate`) or render an existing `track`
    (with optional `audio` to mux). `portrait` is png/jpeg bytes or a path."""
    if (animate is None) == (track is None):
        raise ValueError("give exactly one of animate= or track=")
    if isinstance(portrait, (str, os.PathLike)):
        with open(portrait, "rb") as f:
            portrait = f.read()
    request = pb.RenderRequest(renderer=renderer, portrait=portrait or b"", size=int(size))
    if face_index is not None:
        request.face_index = int(face_index)
    if animate is not None:
        request.animate.CopyFrom(animate)
    else:
        request.track.CopyFrom(track if isinstance(track, pb.Track) else track_message(track))
    if audio is not None:
        request.audio.CopyFrom(audio if isinstance(audio, pb.Audio) else audio_file(audio))
    return request


# ---------------------------------------------------------------------------------------------
# The assembled track


@dataclass
class Track:
    """A FaceTrack in plain Python: every matrix is a row-major `array('f')`.

    `values` are the combined frames (sum of layers, blendshapes clamped) as sent by the
    server; `layers[name]` are the additive parts, dense [frames, len(channels)].
    """

    channels: list[str]
    fps: tuple[int, int]
    start_frame: int
    frames: int
    layers: dict[str, array]
    values: array
    emotions: list[str] = field(default_factory=list)
    emotion: array | None = None  # [frames, len(emotions)]
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # server time

    @property
    def fps_float(self) -> float:
        return self.fps[0] / self.fps[1]

    @property
    def duration(self) -> float:
        return self.frames * self.fps[1] / self.fps[0]

    def column(self, channel: str, layer: str | None = None) -> array:
        """One channel over all frames: combined values, or of one layer."""
        data = self.values if layer is None else self.layers[layer]
        return data[self.channels.index(channel) :: len(self.channels)]

    def emotion_column(self, category: str) -> array:
        if self.emotion is None:
            return array("f", bytes(4 * self.frames))
        return self.emotion[self.emotions.index(category) :: len(self.emotions)]


class TrackAssembler:
    """Feeds on Animate events (in any chunking) and builds a `Track`."""

    def __init__(self) -> None:
        self.header: pb.TrackHeader | None = None
        self.summary: pb.Summary | None = None
        self._values: array | None = None
        self._layers: dict[str, array] = {}
        self._columns: dict[str, int] = {}

    def add(self, event: Any) -> None:
        if isinstance(event, pb.TrackHeader):
            self.header = event
            self._columns = {name: i for i, name in enumerate(event.channels)}
            size = event.frames * len(event.channels)
            self._values = array("f", bytes(4 * size))
            self._layers = {name: array("f", bytes(4 * size)) for name in event.layers}
        elif isinstance(event, pb.FrameChunk):
            width = self._width()
            start = event.first_frame * width
            self._values[start : start + event.frames * width] = _floats(event, "values")
        elif isinstance(event, pb.LayerChunk):
            self._add_layer(event)
        elif isinstance(event, pb.Summary):
            self.summary = event

    def _width(self) -> int:
        if self.header is None:
            raise ClientError("DATA_LOSS", "the server sent frames before the track header")
        return len(self.header.channels)

    def _add_layer(self, chunk: pb.LayerChunk) -> None:
        width = self._width()
        if chunk.layer not in self._layers:
            self._layers[chunk.layer] = array("f", bytes(4 * width * self.header.frames))
        dense = self._layers[chunk.layer]
        values = _floats(chunk, "values")
        present = len(chunk.channels)
        start = chunk.first_frame * width
        stop = (chunk.first_frame + chunk.frames) * width
        for i, name in enumerate(chunk.channels):
            if name not in self._columns:
                raise ClientError(
                    "DATA_LOSS", f"layer {chunk.layer!r} has unknown channel {name!r}"
                )
            col = self._columns[name]
            dense[start + col : stop : width] = values[i::present]

    def track(self) -> Track:
        if self.header is None or self.summary is None:
            raise ClientError("DATA_LOSS", "the stream ended before the track was complete")
        h, s = self.header, self.summary
        return Track(
            channels=list(h.channels),
            fps=(h.fps.num, h.fps.den or 1),
            start_frame=h.start_frame,
            frames=h.frames,
            layers=self._layers,
            values=self._values,
            emotions=list(s.emotions),
            emotion=_floats(s, "emotion") if len(s.emotion) else None,
            provenance=json.loads(s.provenance_json) if s.provenance_json else {},
            seconds=s.seconds,
        )


def track_message(track: Track, frames_per_chunk: int = 4096) -> pb.Track:
    """A `Track` as the wire's Track (for Render), leaving out all-zero channels."""
    width = len(track.channels)
    header = pb.TrackHeader(
        channels=track.channels,
        fps=pb.Rational(num=track.fps[0], den=track.fps[1]),
        start_frame=track.start_frame,
        frames=track.frames,
        layers=list(track.layers),
    )
    out = pb.Track(header=header, provenance_json=json.dumps(track.provenance))
    if track.emotion is not None:
        append_floats(out, "emotion", _le_bytes(track.emotion))
    for name, data in track.layers.items():
        for first in range(0, track.frames, frames_per_chunk):
            n = min(frames_per_chunk, track.frames - first)
            rows = data[first * width : (first + n) * width]
            cols = [c for c in range(width) if rows[c::width].count(0.0) != n]
            chunk = pb.LayerChunk(layer=name, first_frame=first, frames=n)
            chunk.channels.extend(track.channels[c] for c in cols)
            values = array("f", bytes(4 * n * len(cols)))
            for i, c in enumerate(cols):
                values[i :: len(cols)] = rows[c::width]
            append_floats(chunk, "values", _le_bytes(values))
            out.layers.append(chunk)
    return out


# ---------------------------------------------------------------------------------------------
# Streams


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
            raise _error(exc, self._address) from None


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
    """A connection to an EmoSpeaker server.

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
    ) -> None:
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
        if tls_root_cert is not None or tls:
            root = tls_root_cert
            if isinstance(root, (str, os.PathLike)):
                with open(root, "rb") as f:
                    root = f.read()
            creds = grpc.ssl_channel_credentials(root_certificates=root)
            self._channel = grpc.secure_channel(address, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
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
            raise _error(exc, self.address) from None

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
