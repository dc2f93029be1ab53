"""Requests checked up front into plans, then run on a worker.

Everything that can be checked without decoding audio or images is checked on the gRPC
thread (with the work budget, server/budget.py), so a bad request costs microseconds and names
its field; the rest (audio, portrait, emotion keys, a sent track) is converted in the worker,
portrait first, before any engine or renderer work.
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
from ..channels import ALL_CHANNELS
from ..engines import ENGINES, get_engine
from ..errors import EmoSpeakerError, InputError, LimitError
from ..jobs import Job
from ..render import RENDERERS, Renderer, get_renderer
from ..track import ENGINE_LAYERS, FaceTrack, frame_count
from ..wire import emospeaker_pb2 as pb
from . import budget, convert
from .limits import DEFAULT_FRAMES_PER_CHUNK, MAX_START_FRAME, Limits

DECODE_SHARE = 0.05  # of an Animate call's progress


class Unimplemented(EmoSpeakerError):
    """The server lacks this feature (UNIMPLEMENTED)."""


class Unavailable(EmoSpeakerError):
    """Known but not usable on this server, e.g. an engine whose imports fail."""


@dataclass(frozen=True)
class AnimatePlan:
    """A checked AnimateRequest. Its heavy parts (audio, emotion keys or curves) are still
    wire messages: they are converted in `run`, on a worker, so --max-concurrent bounds the
    memory that takes."""

    request: pb.AnimateRequest
    fps: Fraction
    engine: str
    options: dict[str, str]
    frames_per_chunk: int
    emotion_poses: dict[str, dict[str, float]]
    limits: Limits
    field: str = ""  # prefix of the request's fields in error messages ("animate." in Render)

    def decode(self) -> tuple[Audio, int]:
        """The audio and the frame count of the track it makes, within the work budget."""
        audio = convert.audio_from_wire(self.request.audio, self.limits.max_audio_seconds)
        frames = frame_count(Fraction(len(audio.samples), SAMPLE_RATE), self.fps)
        budget.check_track(
            frames, len(ALL_CHANNELS), len(ENGINE_LAYERS), self.limits, f"{self.field}audio"
        )
        return audio, frames

    def animate(self, audio: Audio, frames: int, job: Job) -> FaceTrack:
        request = self.request
        emotion = convert.emotion_from_wire(request)
        if isinstance(emotion, np.ndarray):
            emotion = convert.fit_curves(emotion, frames)
        return animate(
            audio,
            emotion,
            fps=self.fps,
            start_frame=int(request.start_frame),
            transcript=request.transcript or None,
            engine=self.engine,
            seed=int(request.seed),
            options=self.options,
            emotion_poses=self.emotion_poses,
            job=job,
        )

    def run(self, job: Job) -> tuple[FaceTrack, Audio]:
        """Decode and animate; returns the track and the audio (a render muxes it)."""
        job.progress("decoding", 0.0)
        audio, frames = self.decode()
        return self.animate(audio, frames, job.part(DECODE_SHARE, 1.0)), audio


def plan_animate(
    request: pb.AnimateRequest,
    limits: Limits,
    checkpoint_dir: Path | None = None,
    field: str = "",
) -> AnimatePlan:
    """Checks that need no decoding; `budget.check_animate` has checked the sizes."""
    fps = convert.fps_from_wire(request)
    if abs(request.start_frame) > MAX_START_FRAME:
        raise InputError(
            f"start_frame {request.start_frame} must lie within +-{MAX_START_FRAME}",
            field=f"{field}start_frame",
        )
    if request.seed < 0:
        raise InputError(f"seed {request.seed} must be >= 0", field=f"{field}seed")
    if len(request.transcript) > limits.max_transcript_chars:
        raise LimitError(
            f"transcript has {len(request.transcript)} characters; the limit is "
            f"{limits.max_transcript_chars} (--max-transcript-chars)",
            field=f"{field}transcript",
        )
    per_chunk = request.frames_per_chunk or DEFAULT_FRAMES_PER_CHUNK
    if not 1 <= per_chunk <= limits.max_frames_per_chunk:
        raise InputError(
            f"frames_per_chunk {request.frames_per_chunk} must be 0 (server default) or "
            f"1..{limits.max_frames_per_chunk}",
            field=f"{field}frames_per_chunk",
        )
    if not request.HasField("audio"):
        raise InputError("audio is required: set audio.encoded or audio.pcm", field=f"{field}audio")
    engine = _engine(request.engine or "default")
    options = engine.remote_options(dict(request.options), checkpoint_dir)
    engine.resolve_options(options)  # validates names and values
    poses = convert.poses_from_wire(request)
    return AnimatePlan(
        request=request,
        fps=fps,
        engine=engine.name,
        options=options,
        frames_per_chunk=per_chunk,
        emotion_poses=poses,
        limits=limits,
        field=field,
    )


def _engine(name: str) -> Any:
    return _component("engine", name, ENGINES, get_engine, Unavailable)


@dataclass(frozen=True)
class RenderPlan:
    renderer: Renderer
    animate: AnimatePlan | None
    track: pb.Track | None
    audio: pb.Audio | None
    portrait: bytes
    size: int
    pixels: int  # of one output frame
    face_index: int | None
    limits: Limits

    def run(self, job: Job, output: Path) -> tuple[FaceTrack, Path]:
        """Portrait first (a bad one costs no engine time), then animate if asked, then
        render to `output`; returns the track and the file."""
        portrait = self._portrait()
        if self.animate is not None:
            job.progress("decoding", 0.0)
            audio, frames = self.animate.decode()
            budget.check_render_frames(frames, self.pixels, self.limits, "animate.audio")
            track = self.animate.animate(audio, frames, job.part(DECODE_SHARE, 0.3))
            job = job.part(0.3, 1.0)
        else:
            track = convert.track_from_wire(self.track, self.limits.max_audio_seconds)
            audio = None
            if self.audio is not None:
                audio = convert.audio_from_wire(self.audio, self.limits.max_audio_seconds)
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

    def _portrait(self) -> np.ndarray | None:
        """png/jpeg bytes -> RGB uint8; a decompression bomb is refused from its header."""
        if not self.portrait:
            return None
        from ..render.portrait.image import decode_portrait

        return decode_portrait(
            self.portrait, "portrait", max_pixels=self.limits.max_portrait_pixels
        )


def plan_render(
    request: pb.RenderRequest, limits: Limits, pixels: int, checkpoint_dir: Path | None = None
) -> RenderPlan:
    """Checks that need no decoding; `budget.check_render` has checked the sizes and
    measured `pixels`, those of one output frame."""
    renderer = _renderer(request.renderer)
    face_index = request.face_index if request.HasField("face_index") else None
    if face_index is not None and face_index < 0:
        raise InputError(f"face_index {face_index} must be >= 0", field="face_index")
    if getattr(renderer, "needs_portrait", False) and not request.portrait:
        raise InputError(f"renderer {request.renderer!r} needs a portrait", field="portrait")
    kind = request.WhichOneof("motion")
    if kind is None:
        raise InputError("set `animate` (audio + emotion) or `track`", field="motion")
    plan_a = (
        plan_animate(request.animate, limits, checkpoint_dir, "animate.")
        if kind == "animate"
        else None
    )
    return RenderPlan(
        renderer=renderer,
        animate=plan_a,
        track=request.track if kind == "track" else None,
        audio=request.audio if request.HasField("audio") else None,
        portrait=request.portrait,
        size=request.size,
        pixels=pixels,
        face_index=face_index,
        limits=limits,
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
