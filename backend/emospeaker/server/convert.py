"""Wire messages <-> EmoSpeaker objects (numpy FaceTrack, Audio, EmotionTimeline).

Used by the server and by `emospeaker animate --server`, so a track that crosses the wire
comes back bit-identical: float32 travels as raw little-endian bytes (see wire.packed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from ..audio import Audio, audio_from_pcm, load_audio
from ..emotion import EMOTIONS, EmotionKey, EmotionTimeline
from ..errors import InputError, LimitError
from ..poses import pose_vectors
from ..track import DEFAULT_FPS, MAX_FPS, FaceTrack, parse_fps
from ..wire import emospeaker_pb2 as pb
from ..wire.packed import append_floats, float_bytes

MAX_PCM_CHANNELS = 64
MAX_LAYERS = 64


def floats(message: Any, name: str) -> np.ndarray:
    """A repeated float field as a float32 numpy vector (a copy)."""
    return np.frombuffer(float_bytes(message, name), dtype="<f4").astype(np.float32)


def set_floats(message: Any, name: str, values: np.ndarray) -> None:
    append_floats(message, name, np.ascontiguousarray(values, dtype="<f4").tobytes())


# ---------------------------------------------------------------------------------------------
# Requests


def fps_from_wire(request: pb.AnimateRequest) -> Fraction:
    return wire_fps(request.fps, "fps") if request.HasField("fps") else DEFAULT_FPS


def wire_fps(rate: pb.Rational, where: str) -> Fraction:
    """A wire Rational as a frame rate; terms too large for a video file are snapped to the
    nearest sensible ratio (see track.snap_fps)."""
    num, den = rate.num, rate.den or 1
    if num <= 0 or den <= 0 or num > MAX_FPS * den:
        raise InputError(
            f"{where} {num}/{den} must be a positive ratio of at most {MAX_FPS} frames per second",
            field="fps",
        )
    return parse_fps((num, den))


def fps_to_wire(fps: Fraction) -> pb.Rational:
    return pb.Rational(num=fps.numerator, den=fps.denominator)


def audio_from_wire(message: pb.Audio, max_seconds: float) -> Audio:
    """Decode the request's audio (file bytes or raw PCM), enforcing `max_seconds`."""
    kind = message.WhichOneof("source")
    name = message.name or "<request audio>"
    if kind is None:
        raise InputError("audio is required: set audio.encoded or audio.pcm", field="audio")
    if kind == "encoded":
        if not message.encoded:
            raise InputError(f"{name}: audio.encoded is empty (0 bytes)", field="audio")
        return load_audio(message.encoded, name=name, max_seconds=max_seconds)
    return audio_from_pcm(
        _pcm_samples(message.pcm, name), message.pcm.sample_rate, name=name, max_seconds=max_seconds
    )


def _pcm_samples(pcm: pb.Pcm, name: str) -> np.ndarray:
    channels = pcm.channels or 1
    if not 1 <= channels <= MAX_PCM_CHANNELS:
        raise InputError(
            f"{name}: audio.pcm.channels {channels} must be 1..{MAX_PCM_CHANNELS}",
            field="audio.pcm.channels",
        )
    formats = {pb.Pcm.INT16: "<i2", pb.Pcm.FLOAT32: "<f4"}
    if pcm.format not in formats:
        raise InputError(
            f"{name}: audio.pcm.format {pcm.format} is not INT16 (0) or FLOAT32 (1)",
            field="audio.pcm.format",
        )
    dtype = np.dtype(formats[pcm.format])
    frame = dtype.itemsize * channels
    if len(pcm.samples) % frame:
        raise InputError(
            f"{name}: audio.pcm.samples has {len(pcm.samples)} bytes, not a multiple of "
            f"{frame} ({channels} channel(s) x {dtype.itemsize} bytes)",
            field="audio.pcm.samples",
        )
    samples = np.frombuffer(pcm.samples, dtype=dtype).reshape(-1, channels)
    samples = samples.astype(dtype.newbyteorder("="), copy=False)  # copies only big-endian data
    return samples[:, 0] if channels == 1 else samples


def emotion_from_wire(request: pb.AnimateRequest) -> EmotionTimeline | np.ndarray:
    """Keys as an EmotionTimeline, or dense curves as an [n, 8] array (fit later)."""
    kind = request.WhichOneof("emotion")
    if kind == "curves":
        return _curves(request.curves)
    if kind is None:
        return EmotionTimeline()
    return EmotionTimeline(tuple(_key(k, i) for i, k in enumerate(request.keys.keys)))


def _key(key: pb.EmotionKey, i: int) -> EmotionKey:
    where = f"emotion.keys[{i}]"
    unit = key.WhichOneof("at")
    if unit is None:
        raise InputError(f"{where}: set `seconds` or `frame`", field=where)
    try:
        return EmotionKey(
            key.seconds if unit == "seconds" else key.frame,
            dict(key.intensities),
            key.interpolation or "smooth",
            "s" if unit == "seconds" else "frame",
        )
    except InputError as exc:
        raise InputError(f"{where}: {exc}", field=exc.field or where) from None


def _curves(curves: pb.EmotionCurves) -> np.ndarray:
    width = len(EMOTIONS)
    values = floats(curves, "values")
    if curves.frames <= 0 or values.size != curves.frames * width:
        raise InputError(
            f"emotion.curves: {values.size} values for frames={curves.frames}; expected "
            f"frames x {width} ({', '.join(EMOTIONS)}) with frames >= 1",
            field="emotion_curves",
        )
    return values.reshape(curves.frames, width)


def poses_from_wire(request: pb.AnimateRequest) -> dict[str, dict[str, float]]:
    """AnimateRequest.emotion_poses as {emotion: {channel: weight}}, validated."""
    out: dict[str, dict[str, float]] = {}
    for i, pose in enumerate(request.emotion_poses):
        where = f"emotion_poses[{i}]"
        values = floats(pose, "values")
        if len(values) != len(pose.channels):
            raise InputError(
                f"{where}: {len(values)} values for {len(pose.channels)} channels",
                field="emotion_poses",
            )
        if pose.emotion in out:
            raise InputError(f"{where}: a second pose for {pose.emotion!r}", field="emotion_poses")
        if len(set(pose.channels)) != len(pose.channels):
            raise InputError(f"{where}: a channel is listed twice", field="emotion_poses")
        out[pose.emotion] = dict(zip(pose.channels, values.tolist(), strict=True))
    pose_vectors(out)  # names the emotion, channel or value at fault
    return out


def poses_to_wire(poses: Mapping[str, Mapping[str, float]] | None) -> list[pb.EmotionPose]:
    out = []
    for emotion, weights in (poses or {}).items():
        pose = pb.EmotionPose(emotion=emotion, channels=list(weights))
        set_floats(pose, "values", np.array(list(weights.values()), dtype=np.float32))
        out.append(pose)
    return out


def fit_curves(curves: np.ndarray, frames: int) -> np.ndarray:
    """Dense curves cut or extended (holding the last row) to the track's frame count."""
    if len(curves) >= frames:
        return curves[:frames]
    return np.concatenate([curves, np.repeat(curves[-1:], frames - len(curves), axis=0)])


def timeline_to_wire(timeline: EmotionTimeline) -> pb.EmotionKeys:
    out = pb.EmotionKeys()
    for key in timeline.keys:
        item = pb.EmotionKey(intensities=dict(key.intensities), interpolation=key.interpolation)
        if key.unit == "frame":
            item.frame = key.time
        else:
            item.seconds = key.time
        out.keys.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# Tracks


def track_header(track: FaceTrack) -> pb.TrackHeader:
    return pb.TrackHeader(
        channels=track.channels,
        fps=fps_to_wire(track.fps),
        start_frame=track.start_frame,
        frames=track.frames,
        layers=list(track.layers),
    )


def frame_chunks(track: FaceTrack, per_chunk: int) -> Iterator[pb.FrameChunk]:
    values = track.values
    for first in range(0, track.frames, per_chunk):
        chunk = pb.FrameChunk(
            first_frame=first,
            frames=min(per_chunk, track.frames - first),
            time=float(first / track.fps),
        )
        set_floats(chunk, "values", values[first : first + per_chunk])
        yield chunk


def layer_chunks(track: FaceTrack, per_chunk: int) -> Iterator[pb.LayerChunk]:
    """Each layer in chunks of frames, with only the channels that are non-zero there."""
    for name, data in track.layers.items():
        for first in range(0, track.frames, per_chunk):
            rows = data[first : first + per_chunk]
            used = np.flatnonzero(np.any(rows != 0, axis=0))
            chunk = pb.LayerChunk(layer=name, first_frame=first, frames=len(rows))
            chunk.channels.extend(track.channels[i] for i in used)
            set_floats(chunk, "values", rows[:, used])
            yield chunk


def summary(track: FaceTrack, seconds: float) -> pb.Summary:
    out = pb.Summary(
        frames=track.frames,
        provenance_json=provenance_json(track.provenance),
        seconds=seconds,
    )
    if track.emotion is not None:
        out.emotions.extend(EMOTIONS)
        set_floats(out, "emotion", track.emotion)
    return out


def provenance_json(provenance: dict[str, Any]) -> str:
    return json.dumps(provenance, default=_json_default, sort_keys=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value.tolist() if isinstance(value, np.ndarray) else value)
    if isinstance(value, Fraction):
        return str(value)
    raise TypeError(f"cannot put {type(value).__name__} into provenance JSON")


def track_events(track: FaceTrack, per_chunk: int, seconds: float) -> Iterator[pb.AnimateEvent]:
    """The tail of an Animate stream: header, frame chunks, layer chunks, summary."""
    yield pb.AnimateEvent(header=track_header(track))
    for chunk in frame_chunks(track, per_chunk):
        yield pb.AnimateEvent(frames=chunk)
    for layer in layer_chunks(track, per_chunk):
        yield pb.AnimateEvent(layer=layer)
    yield pb.AnimateEvent(summary=summary(track, seconds))


def track_to_wire(track: FaceTrack, per_chunk: int = 4096) -> pb.Track:
    out = pb.Track(
        header=track_header(track),
        layers=list(layer_chunks(track, per_chunk)),
        provenance_json=provenance_json(track.provenance),
    )
    if track.emotion is not None:
        set_floats(out, "emotion", track.emotion)
    return out


def track_from_wire(message: pb.Track, max_seconds: float) -> FaceTrack:
    """A FaceTrack from a whole wire Track (e.g. a Render request), validated; at most
    `max_seconds` long."""
    fps = wire_fps(message.header.fps, "track.header.fps")
    if message.header.frames > max_seconds * fps + 1:
        raise LimitError(
            f"track.header.frames {message.header.frames} at {fps} fps is longer than the "
            f"limit of {max_seconds:g} s",
            field="track",
        )
    return _build_track(message.header, message.layers, message, "track")


def track_from_events(events: Iterable[Any]) -> FaceTrack:
    """A FaceTrack from Animate events (pb.TrackHeader, pb.LayerChunk, pb.Summary, ...)."""
    header, layers, final = None, [], None
    for event in events:
        if isinstance(event, pb.TrackHeader):
            header = event
        elif isinstance(event, pb.LayerChunk):
            layers.append(event)
        elif isinstance(event, pb.Summary):
            final = event
    if header is None or final is None:
        raise InputError("the Animate stream ended before the track was complete")
    return _build_track(header, layers, final, "track")


def _build_track(
    header: pb.TrackHeader, chunks: Iterable[pb.LayerChunk], rest: Any, where: str
) -> FaceTrack:
    """`rest` is a pb.Summary or pb.Track: both carry `emotion` and `provenance_json`."""
    frames, channels = header.frames, list(header.channels)
    if frames <= 0 or not channels:
        raise InputError(f"{where}.header needs frames >= 1 and channels", field=where)
    _require_unique(channels, f"{where}.header.channels")
    column = {name: i for i, name in enumerate(channels)}
    names = list(dict.fromkeys(header.layers))[:MAX_LAYERS]
    layers = {n: np.zeros((frames, len(channels)), np.float32) for n in names}
    for i, chunk in enumerate(chunks):
        _place(chunk, layers, column, frames, f"{where}.layers[{i}]")
    emotion = floats(rest, "emotion")
    if emotion.size not in (0, frames * len(EMOTIONS)):
        raise InputError(
            f"{where}.emotion has {emotion.size} values; expected frames x {len(EMOTIONS)} "
            f"= {frames * len(EMOTIONS)} or none",
            field=f"{where}.emotion",
        )
    try:
        provenance = json.loads(rest.provenance_json) if rest.provenance_json else {}
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(
            f"{where}.provenance_json is not JSON ({type(exc).__name__})",
            field=f"{where}.provenance_json",
        ) from None
    return FaceTrack(
        fps=wire_fps(header.fps, f"{where}.header.fps"),
        layers=layers,
        channels=tuple(channels),
        start_frame=header.start_frame,
        emotion=emotion.reshape(frames, -1) if emotion.size else None,
        provenance=provenance if isinstance(provenance, dict) else {},
    )


def _place(
    chunk: pb.LayerChunk,
    layers: dict[str, np.ndarray],
    column: dict[str, int],
    frames: int,
    where: str,
) -> None:
    unknown = [c for c in chunk.channels if c not in column]
    if unknown:
        raise InputError(f"{where}: unknown channel {unknown[0]!r}", field=where)
    if chunk.first_frame < 0 or chunk.frames < 0 or chunk.first_frame + chunk.frames > frames:
        raise InputError(
            f"{where}: frames [{chunk.first_frame}, {chunk.first_frame + chunk.frames}) fall "
            f"outside the track's {frames}",
            field=where,
        )
    _require_unique(chunk.channels, f"{where}.channels")
    values = floats(chunk, "values")
    if values.size != chunk.frames * len(chunk.channels):
        raise InputError(
            f"{where}: {values.size} values for {chunk.frames} frames x "
            f"{len(chunk.channels)} channels",
            field=where,
        )
    if chunk.layer not in layers:
        if len(layers) >= MAX_LAYERS:
            raise InputError(f"{where}: more than {MAX_LAYERS} layers", field=where)
        layers[chunk.layer] = np.zeros((frames, len(column)), np.float32)
    cols = [column[c] for c in chunk.channels]
    rows = slice(chunk.first_frame, chunk.first_frame + chunk.frames)
    layers[chunk.layer][rows, cols] = values.reshape(chunk.frames, len(cols))


def _require_unique(names: Iterable[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(f"{where}: channel {name!r} appears twice", field=where)
        seen.add(name)
