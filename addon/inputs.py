"""Gathering what Generate sends, on the main thread: audio, frame rate, start frame, the
emotion properties sampled per frame, transcript, engine and options."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import bpy
import numpy as np

from . import backend, compat, emotion, poses
from .arkit import EMOTIONS, MAX_INTENSITY

EMOTION_PATH = emotion.EMOTION_PATH


class InputProblem(Exception):
    """Something the user must fix before generating; the message says what."""


@dataclass
class Request:
    """Plain values for the worker thread (no Blender data in here)."""

    audio: bytes
    audio_name: str
    fps: Fraction
    start_frame: int
    curves: np.ndarray  # [frames, 8], frame i = timeline frame start_frame + i
    transcript: str = ""
    engine: str = ""
    options: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    duration: float | None = None  # of the audio in seconds, when Blender could tell
    notes: list[str] = field(default_factory=list)
    poses: dict[str, dict[str, float]] = field(default_factory=dict)  # custom emotion poses

    def animate_request(self) -> Any:
        """The wire's AnimateRequest for these values."""
        from .wire import client as wire

        return wire.animate_request(
            wire.audio_bytes(self.audio, self.audio_name),
            fps=(self.fps.numerator, self.fps.denominator),
            start_frame=self.start_frame,
            emotion=wire.emotion_curves(self.curves.ravel().tolist(), len(self.curves)),
            transcript=self.transcript,
            engine=self.engine,
            options=self.options,
            seed=self.seed,
            emotion_poses=self.poses,
        )


def scene_fps(scene: bpy.types.Scene) -> Fraction:
    """The scene's exact frame rate: fps / fps_base, with 23.976-style rates as n*1000/1001."""
    fps, base = scene.render.fps, scene.render.fps_base
    if abs(base - 1.0) < 1e-9:
        return Fraction(fps)
    rate = fps / base
    ntsc = round(rate * 1001 / 1000)
    if ntsc and abs(rate - ntsc * 1000 / 1001) < 1e-4:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(rate).limit_denominator(1001)


def sound_source(scene: bpy.types.Scene, settings) -> tuple[bytes, str, float, float | None]:  # noqa: ANN001
    """(file bytes, name, start frame, duration in seconds or None) of the chosen audio."""
    if settings.audio_source == "FILE":
        path = bpy.path.abspath(settings.audio_file)
        if not settings.audio_file:
            raise InputProblem("choose an audio file (or use a Sequencer sound strip)")
        audio = read_file(path, "audio")
        return audio, os.path.basename(path), settings.file_start, _duration(path)
    strip = sound_strip(scene, settings)
    sound = strip.sound
    if sound.packed_file is not None:
        data = bytes(sound.packed_file.data)
        duration = strip.frame_duration / float(scene_fps(scene))
    else:
        path = bpy.path.abspath(sound.filepath, library=sound.library)
        data = read_file(path, "audio")
        duration = _duration(path)
    return data, os.path.basename(sound.filepath) or sound.name, strip.frame_start, duration


def sound_strip(scene: bpy.types.Scene, settings) -> bpy.types.Strip:  # noqa: ANN001
    """The dialogue strip: the one named in the settings, or the scene's only sound strip."""
    strips = {s.name: s for s in compat.sequencer_strips(scene) if s.type == "SOUND"}
    if not strips:
        raise InputProblem("the scene has no sound strip; add one in the Video Sequencer")
    name = settings.sound_strip or (next(iter(strips)) if len(strips) == 1 else "")
    if name not in strips:
        raise InputProblem(
            f"choose a sound strip ({', '.join(sorted(strips))})"
            if not name
            else f"no sound strip named '{name}'"
        )
    return strips[name]


def read_file(path: str, what: str) -> bytes:
    """The bytes of `path`; InputProblem naming `what` it is when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputProblem(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _duration(path: str) -> float | None:
    """Seconds, read by Blender's own audio library; None when it cannot tell."""
    try:
        import aud

        sound = aud.Sound(path)
        rate = sound.specs[0]
        return sound.length / rate if rate else None
    except Exception:  # noqa: BLE001 - the backend decodes and reports real problems
        return None


def emotion_curves(obj: bpy.types.Object, start: int, frames: int) -> np.ndarray:
    """The eight emotion properties at frames start .. start+frames-1, as [frames, 8].

    Reads the F-curves of the face's emotion object (what the Emotion panel keys and the
    Graph Editor edits, see emotion.py); a property without a curve holds its current value.
    """
    source = emotion.holder(obj)
    out = np.zeros((frames, len(EMOTIONS)), dtype=np.float32)
    if source is None:
        return out
    curves = {fc.data_path: fc for fc in compat.active_fcurves(source.animation_data)}
    at = range(start, start + frames)
    state = source.emospeaker
    for j, name in enumerate(EMOTIONS):
        fc = curves.get(EMOTION_PATH.format(name))
        if fc is None or fc.mute:
            out[:, j] = getattr(state, name)
        else:
            out[:, j] = [fc.evaluate(f) for f in at]
    # Bezier overshoot can dip a hair below 0; the backend accepts [0, MAX_INTENSITY]
    return np.clip(out, 0.0, MAX_INTENSITY)


def parse_options(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputProblem(f"engine option '{item}' must look like name=value")
        out[name.strip()] = value.strip()
    return out


def gather(context: bpy.types.Context) -> Request:
    """What Generate sends. Without a face object (Render Shot allows that; Generate resolves
    the face first) there are no emotion keys to sample: the emotion is none."""
    scene = context.scene
    settings = scene.emospeaker
    obj = settings.target
    audio, name, start, duration = sound_source(scene, settings)
    fps = scene_fps(scene)
    notes = [] if obj is not None else ["no face object (it holds the emotion keys): no emotion"]
    start_frame = round(start)
    if abs(start - start_frame) > 1e-3:
        notes.append(f"the sound starts at frame {start:g}; the animation starts at {start_frame}")
    # Enough rows to cover the sound; the server drops extra rows and repeats the last one
    frames = math.ceil((duration or 600.0) * fps) + 1
    transcript = (
        settings.transcript_text.as_string() if settings.transcript_text else settings.transcript
    )
    engine = settings.engine.strip() or "default"
    custom = poses.stored(obj)
    if custom and backend.supports_poses(engine) is False:
        notes.append(f"engine '{engine}' ignores custom emotion poses: its own emotions are used")
    gains = backend.known_options(engine, poses.gains(obj), notes)
    return Request(
        audio=audio,
        audio_name=name,
        fps=fps,
        start_frame=start_frame,
        curves=(
            emotion_curves(obj, start_frame, frames)
            if obj is not None
            else np.zeros((frames, len(EMOTIONS)), np.float32)
        ),
        transcript=transcript.strip(),
        engine=settings.engine.strip(),
        options={**gains, **parse_options(settings.options)},
        seed=settings.seed,
        duration=duration,
        notes=notes,
        poses=custom,
    )
