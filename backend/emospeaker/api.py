"""The library entry point: one call from audio and emotion to a FaceTrack."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from . import __version__
from .audio import SAMPLE_RATE, Audio
from .emotion import EmotionTimeline, curves_from_array
from .engines import EngineInput, get_engine
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
    poses = pose_vectors(emotion_poses)
    warnings = []
    if poses and not chosen.supports_emotion_poses:
        warnings.append(
            f"engine {chosen.name!r} does not use custom emotion poses "
            f"({', '.join(poses)}): its own emotions were used"
        )
    request = EngineInput(
        audio, fps, frames, curves, start_frame, transcript or None, int(seed), resolved,
        poses if chosen.supports_emotion_poses else {},
    )  # fmt: skip
    track = chosen.animate(request, job or Job())
    track.provenance = {
        "engine": chosen.name,
        "engine_version": chosen.version,
        "emospeaker_version": __version__,
        "seed": int(seed),
        "audio_sha256": audio.sha256,
        "audio_source": audio.source,
        "transcript": bool(transcript),
        "options": resolved,
        **chosen.provenance(),
        **track.provenance,
    }
    if poses:
        track.provenance["emotion_poses"] = sorted(poses)
    if warnings:
        track.provenance["warnings"] = track.provenance.get("warnings", []) + warnings
    return track
