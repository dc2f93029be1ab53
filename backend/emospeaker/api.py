"""The library entry point: one call from audio and emotion to a FaceTrack."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from . import __version__
from .audio import SAMPLE_RATE, Audio
from .emotion import EmotionTimeline, curves_from_array
from .engines import Engine, EngineInput, get_engine
from .jobs import Job
from .poses import EmotionPoses, pose_vectors
from .track import DEFAULT_FPS, FaceTrack, frame_count, parse_fps


def animate(
    audio: Audio,
    emotion: EmotionTimeline | np.ndarray | None = None,
    *,
    fps: Fraction | str | float = DEFAULT_FPS,
    start_frame: int = 0,
    transcript: str | None = None,
    engine: str = "default",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    emotion_poses: EmotionPoses | None = None,
    job: Job | None = None,
) -> FaceTrack:
    """Animate `audio` with emotion keys (or dense [frames, 8] curves) on `engine`.

    The track has ceil(duration * fps) frames; frame i is the face at audio time i / fps.
    `emotion_poses` ({emotion: {ARKit channel: weight}}, see poses.py) replace the engine's
    built-in emotions; an engine that cannot use them says so in provenance["warnings"].
    """
    chosen, request = prepare(
        audio, emotion, fps=fps, start_frame=start_frame, transcript=transcript,
        engine=engine, seed=seed, options=options, emotion_poses=emotion_poses,
    )  # fmt: skip
    return run(chosen, request, job)


def prepare(
    audio: Audio,
    emotion: EmotionTimeline | np.ndarray | None = None,
    *,
    fps: Fraction | str | float = DEFAULT_FPS,
    start_frame: int = 0,
    transcript: str | None = None,
    engine: str = "default",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
    emotion_poses: EmotionPoses | None = None,
) -> tuple[Engine, EngineInput]:
    """The engine and its validated input for `animate`, without running it: a batch checks
    `inputs_checksum` of this against a finished output before deciding to run."""
    fps = parse_fps(fps)
    frames = frame_count(Fraction(len(audio.samples), SAMPLE_RATE), fps)
    if emotion is None:
        emotion = EmotionTimeline()
    if isinstance(emotion, EmotionTimeline):
        curves = emotion.curves(fps, frames, start_frame)
    else:
        curves = curves_from_array(emotion, frames)
    chosen = get_engine(engine)
    resolved = chosen.resolve_options(options)
    request = EngineInput(
        audio, fps, frames, curves, start_frame, transcript or None, int(seed), resolved,
        pose_vectors(emotion_poses),
    )  # fmt: skip
    return chosen, request


def run(chosen: Engine, request: EngineInput, job: Job | None = None) -> FaceTrack:
    """Run a prepared request; the track's provenance says what made it and from what."""
    track = chosen.animate(request, job or Job())
    track.provenance = {
        "engine": chosen.name,
        "engine_version": chosen.version,
        "emospeaker_version": __version__,
        "seed": request.seed,
        "audio_sha256": request.audio.sha256,
        "audio_source": request.audio.source,
        "transcript": bool(request.transcript),
        "options": dict(request.options),
        "inputs_sha256": inputs_checksum(chosen, request),
        **chosen.provenance(),
        **track.provenance,
    }
    poses = sorted(request.emotion_poses)
    if poses:
        track.provenance["emotion_poses"] = poses
    if poses and not chosen.supports_emotion_poses:
        track.provenance["warnings"] = [
            *track.provenance.get("warnings", []),
            f"engine {chosen.name!r} does not use custom emotion poses ({', '.join(poses)}): "
            "its own emotions were used",
        ]
    return track


def inputs_checksum(chosen: Engine, request: EngineInput) -> str:
    """sha256 of everything that decides a track: audio samples, transcript, emotion curves
    and custom poses, fps, start frame, seed, engine (version, model) and options. Equal
    checksums mean an output can be kept (`emospeaker batch` skips such lines on a rerun)."""
    spec = {
        "audio_sha256": request.audio.sha256,
        "transcript": request.transcript or "",
        "fps": str(request.fps),
        "frames": request.frames,
        "start_frame": request.start_frame,
        "seed": request.seed,
        "engine": chosen.name,
        "engine_version": chosen.version,
        "emospeaker_version": __version__,
        "engine_provenance": chosen.inputs_fingerprint(request.options),
        "options": dict(request.options),
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(request.emotion, dtype=np.float32).tobytes())
    for emotion in sorted(request.emotion_poses):
        digest.update(emotion.encode())
        digest.update(np.ascontiguousarray(request.emotion_poses[emotion], np.float32).tobytes())
    return digest.hexdigest()
