"""Request builders: audio (file bytes or raw PCM), fps as a rational, emotion as keys or
dense curves, and whole Animate / Render requests."""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from . import emospeaker_pb2 as pb
from .packed import append_floats, array_bytes
from .track import Track, track_message


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
    else:  # a decimal: snapped to the nearest sensible rate (the backend's track.snap_fps)
        value = Fraction(str(fps).strip())
        ntsc = Fraction(round(value * 1001 / 1000) * 1000, 1001)
        if value.denominator != 1 and ntsc > 0 and abs(float(value - ntsc)) < 0.005:
            value = ntsc
        elif value.denominator > 1001:  # e.g. Blender's fps / fps_base, OpenCV's 30.0003
            value = value.limit_denominator(1001)
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
    append_floats(curves, "values", array_bytes(flat))
    return curves


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
    emotion_poses: Mapping[str, Mapping[str, float]] | None = None,
) -> pb.AnimateRequest:
    """An AnimateRequest. `emotion` is a constant state `{"happy": 0.8}`, keys (see
    `emotion_keys`), or `emotion_curves(...)`; None means no emotion. `emotion_poses`:
    {emotion: {ARKit channel: weight at intensity 1}}, the character's own emotions."""
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
    for name, weights in (emotion_poses or {}).items():
        request.emotion_poses.append(
            pb.EmotionPose(emotion=name, channels=list(weights), values=list(weights.values()))
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
