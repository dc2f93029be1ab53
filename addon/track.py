"""The add-on's FaceTrack: numpy arrays in, the backend's JSON and Live Link CSV out.

A mirror of `emospeaker.track.FaceTrack` small enough to live inside Blender (the add-on never
imports the backend). The writers produce the same bytes as `emospeaker.formats` does for the
same track; a test reads them back with the backend's `load_track`.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .arkit import ALL_CHANNELS, ARKIT_BLENDSHAPES, EMOTIONS

FORMAT_NAME = "emospeaker.facetrack"
FORMAT_VERSION = 1


@dataclass
class Track:
    """Per-frame channels as additive layers; frame i sits on timeline frame start_frame + i."""

    fps: Fraction
    layers: dict[str, np.ndarray]  # name -> [frames, channels] float32
    channels: tuple[str, ...] = ALL_CHANNELS
    start_frame: int = 0
    emotion: np.ndarray | None = None  # [frames, 8]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return next(iter(self.layers.values())).shape[0]

    @property
    def values(self) -> np.ndarray:
        """Sum of the layers with blendshapes clamped to [0, 1], as the backend defines it."""
        total = np.sum(list(self.layers.values()), axis=0, dtype=np.float32)
        mask = np.array([c in _BLENDSHAPES for c in self.channels], dtype=bool)
        total[:, mask] = np.clip(total[:, mask], 0.0, 1.0)
        return total

    @classmethod
    def from_wire(cls, wire_track: Any) -> Track:
        """From the gRPC client's plain-Python track (row-major `array('f')` matrices)."""
        width = len(wire_track.channels)
        layers = {
            name: np.frombuffer(data, dtype=np.float32).reshape(-1, width).copy()
            for name, data in wire_track.layers.items()
        }
        emotion = None
        if wire_track.emotion is not None and len(wire_track.emotion):
            emotion = np.frombuffer(wire_track.emotion, dtype=np.float32).reshape(
                wire_track.frames, -1
            )
        return cls(
            fps=Fraction(*wire_track.fps),
            layers=layers,
            channels=tuple(wire_track.channels),
            start_frame=int(wire_track.start_frame),
            emotion=None if emotion is None else emotion.copy(),
            provenance=dict(wire_track.provenance),
        )

    def to_wire(self) -> Any:
        """As the gRPC client's plain-Python track (for a Render request)."""
        from array import array

        from .wire.track import Track as WireTrack

        def floats(values: np.ndarray) -> array:
            out = array("f")
            out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
            return out

        return WireTrack(
            channels=list(self.channels),
            fps=(self.fps.numerator, self.fps.denominator),
            start_frame=self.start_frame,
            frames=self.frames,
            layers={name: floats(v) for name, v in self.layers.items()},
            values=floats(self.values),
            emotions=list(EMOTIONS),
            emotion=None if self.emotion is None else floats(self.emotion),
            provenance=dict(self.provenance),
        )


_BLENDSHAPES = frozenset(ARKIT_BLENDSHAPES)

# ---------------------------------------------------------------------------------------------
# JSON: the backend's exact, sparse layout (emospeaker/formats/json_format.py)


def to_json(track: Track) -> str:
    doc = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "fps": [track.fps.numerator, track.fps.denominator],
        "start_frame": track.start_frame,
        "frames": track.frames,
        "channels": list(track.channels),
        "provenance": track.provenance,
        "layers": {name: _sparse(v, track.channels) for name, v in track.layers.items()},
        "emotion": None if track.emotion is None else track.emotion.tolist(),
    }
    return json.dumps(doc, separators=(",", ":"))


def _sparse(values: np.ndarray, channels: tuple[str, ...]) -> dict[str, Any]:
    used = np.flatnonzero(np.any(values != 0, axis=0))
    return {"channels": [channels[i] for i in used], "values": values[:, used].tolist()}


def from_json(text: str, source: str = "track") -> Track:
    """Read a FaceTrack JSON file's text; errors name the file and what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ValueError(f"{source}: not an EmoSpeaker FaceTrack (no format {FORMAT_NAME!r})")
    if doc.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{source}: FaceTrack version {doc['version']} is newer than this add-on")
    try:
        channels = tuple(doc["channels"])
        frames = int(doc["frames"])
        layers = {}
        for name, layer in doc["layers"].items():
            dense = np.zeros((frames, len(channels)), dtype=np.float32)
            if layer["channels"]:
                cols = [channels.index(c) for c in layer["channels"]]
                flat = np.asarray(layer["values"], dtype=np.float32)
                dense[:, cols] = flat.reshape(frames, len(cols))
            layers[name] = dense
        emotion = doc.get("emotion")
        num, den = doc["fps"]
        return Track(
            fps=Fraction(num, den),
            layers=layers,
            channels=channels,
            start_frame=int(doc.get("start_frame", 0)),
            emotion=None if emotion is None else np.asarray(emotion, dtype=np.float32),
            provenance=doc.get("provenance", {}),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{source}: damaged FaceTrack ({exc})") from None


# ---------------------------------------------------------------------------------------------
# Live Link Face CSV (emospeaker/formats/livelink_csv.py)

LIVELINK_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker",
    "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight", "browDownLeft",
    "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip
LIVELINK_HEAD = {"HeadYaw": "headYaw", "HeadPitch": "headPitch", "HeadRoll": "headRoll"}
LIVELINK_EYES = ("LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
                 "RightEyeRoll")  # fmt: skip
GAZE_RANGE_RADIANS = 0.5  # eye rotation at an eyeLook weight of 1


def write_livelink_csv(track: Track, handle: Any) -> None:
    """Columns: Timecode, BlendShapeCount, 52 PascalCase blendshapes, head and eye rotations."""
    values = track.values
    col = {name: i for i, name in enumerate(track.channels)}

    def column(name: str) -> np.ndarray:
        return values[:, col[name]] if name in col else np.zeros(track.frames, np.float32)

    blend = np.stack([column(n) for n in LIVELINK_BLENDSHAPES], axis=1)
    head = np.stack([column(c) for c in LIVELINK_HEAD.values()], axis=1)
    eyes = _eye_rotations(column)
    nominal = max(1, round(track.fps))
    out = csv.writer(handle)
    out.writerow(
        ["Timecode", "BlendShapeCount"]
        + [n[:1].upper() + n[1:] for n in LIVELINK_BLENDSHAPES]
        + list(LIVELINK_HEAD)
        + list(LIVELINK_EYES)
    )
    for i in range(track.frames):
        row = np.concatenate([blend[i], head[i], eyes[i]])
        out.writerow(
            [_timecode(track.start_frame + i, nominal), len(row)] + [repr(float(v)) for v in row]
        )


def _eye_rotations(column: Callable[[str], np.ndarray]) -> np.ndarray:
    def side(s: str) -> list[np.ndarray]:
        yaw = column(f"eyeLookOut{s}") - column(f"eyeLookIn{s}")
        if s == "Right":
            yaw = -yaw
        pitch = column(f"eyeLookDown{s}") - column(f"eyeLookUp{s}")
        return [yaw * GAZE_RANGE_RADIANS, pitch * GAZE_RANGE_RADIANS, np.zeros_like(yaw)]

    return np.stack(side("Left") + side("Right"), axis=1)


def _timecode(frame: int, nominal: int) -> str:
    seconds, ff = divmod(frame, nominal)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}.000"


# ---------------------------------------------------------------------------------------------


def save(track: Track, path: str | os.PathLike[str]) -> Path:
    """Write `.json` or `.csv` atomically: a failed export leaves no partial file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise ValueError(f"{path}: unknown track format {suffix!r}; use .json or .csv")
    if suffix == ".json":
        return write_atomically(path, lambda handle: handle.write(to_json(track)))
    return write_atomically(path, lambda handle: write_livelink_csv(track, handle))


def write_atomically(path: Path, write: Callable[[Any], Any]) -> Path:
    """Call `write(text handle)` on a hidden file beside `path`, then rename it into place:
    a failure leaves neither a partial file nor anything at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
