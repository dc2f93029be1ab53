"""Requests checked up front into plans, then run on a worker.

Everything that can be checked without decoding audio or images is checked before a worker
is taken, so a bad request costs microseconds and names its field; the rest (audio, portrait,
dense-curve length) fails early in the worker, before any engine or renderer work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..api import animate
from ..audio import SAMPLE_RATE, Audio
from ..emotion import EmotionTimeline
from ..engines import ENGINES, get_engine
from ..errors import EmoSpeakerError, InputError, LimitError
from ..jobs import Job
from ..render import RENDERERS, SIZES, Renderer, get_renderer
from ..track import FaceTrack, frame_count
from ..wire import emospeaker_pb2 as pb
from . import convert
from .limits import DEFAULT_FRAMES_PER_CHUNK, MAX_START_FRAME, Limits

MAX_PORTRAIT_PIXELS = 50_000_000
DECODE_SHARE = 0.05  # of an Animate call's progress


class Unimplemented(EmoSpeakerError):
    """The server lacks this feature (UNIMPLEMENTED)."""


class Unavailable(EmoSpeakerError):
    """Known but not usable on this server, e.g. an engine whose imports fail."""


@dataclass(frozen=True)
class AnimatePlan:
    audio: pb.Audio
    fps: Fraction
    start_frame: int
    emotion: EmotionTimeline | np.ndarray
    transcript: str | None
    engine: str
    seed: int
    options: dict[str, str]
    frames_per_chunk: int
    emotion_poses: dict[str, dict[str, float]]
    max_audio_seconds: float

    def run(self, job: Job) -> tuple[FaceTrack, Audio]:
        """Decode and animate; returns the track and the audio (a render muxes it)."""
        job.progress("decoding", 0.0)
        audio = convert.audio_from_wire(self.audio, self.max_audio_seconds)
        emotion = self.emotion
        if isinstance(emotion, np.ndarray):
            frames = frame_count(Fraction(len(audio.samples), SAMPLE_RATE), self.fps)
            emotion = convert.fit_curves(emotion, frames)
        track = animate(
            audio,
            emotion,
            fps=self.fps,
            start_frame=self.start_frame,
            transcript=self.transcript,
            engine=self.engine,
            seed=self.seed,
            options=self.options,
            emotion_poses=self.emotion_poses,
            job=job.part(DECODE_SHARE, 1.0),
        )
        return track, audio


def plan_animate(request: pb.AnimateRequest, limits: Limits) -> AnimatePlan:
    fps = convert.fps_from_wire(request)
    if abs(request.start_frame) > MAX_START_FRAME:
        raise InputError(
            f"start_frame {request.start_frame} must lie within +-{MAX_START_FRAME}",
            field="start_frame",
        )
    if request.seed < 0:
        raise InputError(f"seed {request.seed} must be >= 0", field="seed")
    if len(request.transcript) > limits.max_transcript_chars:
        raise LimitError(
            f"transcript has {len(request.transcript)} characters; the limit is "
            f"{limits.max_transcript_chars}",
            field="transcript",
        )
    per_chunk = request.frames_per_chunk or DEFAULT_FRAMES_PER_CHUNK
    if not 1 <= per_chunk <= limits.max_frames_per_chunk:
        raise InputError(
            f"frames_per_chunk {request.frames_per_chunk} must be 0 (server default) or "
            f"1..{limits.max_frames_per_chunk}",
            field="frames_per_chunk",
        )
    if not request.HasField("audio"):
        raise InputError("audio is required: set audio.encoded or audio.pcm", field="audio")
    engine = _engine(request.engine or "default")
    engine.resolve_options(dict(request.options))  # validates names and values
    poses = convert.poses_from_wire(request)
    return AnimatePlan(
        audio=request.audio,
        fps=fps,
        start_frame=int(request.start_frame),
        emotion=convert.emotion_from_wire(request),
        transcript=request.transcript or None,
        engine=engine.name,
        seed=int(request.seed),
        options=dict(request.options),
        frames_per_chunk=per_chunk,
        emotion_poses=poses,
        max_audio_seconds=limits.max_audio_seconds,
    )


def _engine(name: str) -> Any:
    return _component("engine", name, ENGINES, get_engine, Unavailable)


@dataclass(frozen=True)
class RenderPlan:
    renderer: Renderer
    animate: AnimatePlan | None
    track: FaceTrack | None
    audio: pb.Audio | None
    portrait: bytes
    size: int
    face_index: int | None
    max_audio_seconds: float

    def run(self, job: Job, output: Path) -> tuple[FaceTrack, Path]:
        """Animate if asked, then render to `output`; returns the track and the file."""
        if self.animate is not None:
            track, audio = self.animate.run(job.part(0.0, 0.3))
            job = job.part(0.3, 1.0)
        else:
            track = self.track
            audio = None
            if self.audio is not None:
                audio = convert.audio_from_wire(self.audio, self.max_audio_seconds)
        portrait = _decode_portrait(self.portrait) if self.portrait else None
        path = self.renderer.render(
            track,
            output,
            audio=audio,
            portrait=portrait,
            size=self.size,
            face_index=self.face_index,
            job=job,
        )
        return track, Path(path)


def plan_render(request: pb.RenderRequest, limits: Limits) -> RenderPlan:
    renderer = _renderer(request.renderer)
    if request.size not in SIZES:
        raise InputError(
            f"size {request.size} must be one of {', '.join(map(str, SIZES))} (0: full image)",
            field="size",
        )
    face_index = request.face_index if request.HasField("face_index") else None
    if face_index is not None and face_index < 0:
        raise InputError(f"face_index {face_index} must be >= 0", field="face_index")
    if getattr(renderer, "needs_portrait", False) and not request.portrait:
        raise InputError(f"renderer {request.renderer!r} needs a portrait", field="portrait")
    kind = request.WhichOneof("motion")
    if kind is None:
        raise InputError("set `animate` (audio + emotion) or `track`", field="motion")
    plan_a = plan_animate(request.animate, limits) if kind == "animate" else None
    track = convert.track_from_wire(request.track, limits.max_audio_seconds) if not plan_a else None
    return RenderPlan(
        renderer=renderer,
        animate=plan_a,
        track=track,
        audio=request.audio if request.HasField("audio") else None,
        portrait=request.portrait,
        size=request.size,
        face_index=face_index,
        max_audio_seconds=limits.max_audio_seconds,
    )


def _renderer(name: str) -> Renderer:
    return _component("renderer", name, RENDERERS, get_renderer, Unimplemented)


def _component(
    kind: str, name: str, registry: Mapping[str, str], get: Callable[[str], Any], error: type
) -> Any:
    """A registered engine or renderer; an unknown name is InputError (get lists the known
    ones), a known one that fails to load is `error` (as GetCapabilities reports it)."""
    if name not in registry:
        get(name)
    try:
        return get(name)
    except Exception as exc:
        raise error(
            f"{kind} {name!r} is not available on this server ({exc.__cause__ or exc})"
        ) from exc


def _decode_portrait(data: bytes) -> np.ndarray:
    """png/jpeg bytes -> RGB uint8; a decompression bomb is refused from its header."""
    from ..render.portrait.image import decode_portrait

    return decode_portrait(data, "portrait", max_pixels=MAX_PORTRAIT_PIXELS)
