"""A character's custom emotion poses and gains: stored on the face, sent with Generate,
exported and imported as JSON (the format of `emospeaker animate --emotion-poses`, see
backend/emospeaker/poses.py; a test checks both sides read each other's files)."""

from __future__ import annotations

import json
import math

import bpy

from . import mapping
from .arkit import ARKIT_BLENDSHAPES, EMOTIONS

FORMAT = "emospeaker-emotion-poses"
VERSION = 1
GAINS = {"mouth_gain": "lip_gain", "head_motion": "head_motion", "blink_rate": "blink_rate"}
SMALL = 1e-4  # weights below this are not stored


class PoseProblem(Exception):
    """A pose file or pose that cannot be used; the message names the file and field."""


def capture(face: bpy.types.Object) -> dict[str, float]:
    """The face's current shape-key pose as channel weights, read back through the mapping
    (weight = (value - offset) / gain), clamped to [-1, 1]; channels at rest are left out."""
    key = face.data.shape_keys if face.type == "MESH" else None
    if key is None:
        raise PoseProblem(f"'{face.name}' has no shape keys to take a pose from")
    out = {}
    for b in mapping.bindings(face):
        if b.channel not in ARKIT_BLENDSHAPES or not b.shape_key or not b.gain:
            continue
        block = key.key_blocks.get(b.shape_key)
        if block is None:
            continue
        weight = max(-1.0, min(1.0, (block.value - b.offset) / b.gain))
        if abs(weight) >= SMALL:
            out[b.channel] = weight
    return out


def store(face: bpy.types.Object, emotion: str, weights: dict[str, float]) -> None:
    """Make `weights` the character's pose for `emotion` (replacing an earlier one)."""
    poses = face.emospeaker.poses
    remove(face, emotion)
    pose = poses.add()
    pose.name = pose.emotion = emotion
    for channel, value in sorted(weights.items(), key=lambda kv: ARKIT_BLENDSHAPES.index(kv[0])):
        item = pose.values.add()
        item.name = item.channel = channel
        item.value = value


def remove(face: bpy.types.Object, emotion: str) -> bool:
    poses = face.emospeaker.poses
    for i, pose in enumerate(poses):
        if pose.emotion == emotion:
            poses.remove(i)
            return True
    return False


def stored(face: bpy.types.Object | None) -> dict[str, dict[str, float]]:
    """{emotion: {channel: weight}} of the character's custom poses."""
    if face is None:
        return {}
    return {p.emotion: {v.channel: v.value for v in p.values} for p in face.emospeaker.poses}


def gains(face: bpy.types.Object | None) -> dict[str, float]:
    """The character's gains under the default engine's option names."""
    if face is None:
        return {}
    return {option: getattr(face.emospeaker, prop) for prop, option in GAINS.items()}


def to_json(face: bpy.types.Object) -> str:
    data = {"format": FORMAT, "version": VERSION, "character": face.name}
    data["poses"] = stored(face)
    data["gains"] = gains(face)
    return json.dumps(data, indent=1)


def from_json(face: bpy.types.Object, text: str, name: str) -> int:
    """Replace the character's poses and gains with a file's; returns how many poses. Nothing
    changes when the file is at fault (the error names the file and the field)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PoseProblem(f"{name}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PoseProblem(f'{name}: not an emotion-poses file (expected "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise PoseProblem(f"{name}: version {data.get('version')!r} is not supported")
    poses, gain_values = data.get("poses", {}), data.get("gains", {})
    if not isinstance(poses, dict) or not isinstance(gain_values, dict):
        raise PoseProblem(f'{name}: "poses" and "gains" must be objects')
    for emotion, weights in poses.items():
        _check_pose(name, emotion, weights)
    options = {v: k for k, v in GAINS.items()}
    for option, value in gain_values.items():
        if option not in options or not _number(value):
            raise PoseProblem(f"{name}: gains.{option}: use {', '.join(options)} with numbers")
    face.emospeaker.poses.clear()
    for emotion, weights in poses.items():
        store(face, emotion, {c: float(v) for c, v in weights.items()})
    for option, value in gain_values.items():
        setattr(face.emospeaker, options[option], float(value))
    return len(poses)


def _check_pose(name: str, emotion: str, weights: object) -> None:
    if emotion not in EMOTIONS:
        raise PoseProblem(f"{name}: poses.{emotion}: use one of {', '.join(EMOTIONS)}")
    if not isinstance(weights, dict):
        raise PoseProblem(f"{name}: poses.{emotion} must map channels to weights")
    for channel, value in weights.items():
        if channel not in ARKIT_BLENDSHAPES:
            raise PoseProblem(f"{name}: poses.{emotion}.{channel}: not an ARKit blendshape")
        if not _number(value) or abs(value) > 1.0:
            raise PoseProblem(f"{name}: poses.{emotion}.{channel}: {value!r} not in [-1, 1]")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
