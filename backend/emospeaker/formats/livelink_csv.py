"""FaceTrack <-> the CSV layout of iPhone Live Link Face recordings.

Columns: Timecode (HH:MM:SS:FF.mmm at the nominal integer rate), BlendShapeCount (61), the 52
blendshapes in PascalCase and Live Link order, HeadYaw/HeadPitch/HeadRoll (radians, as in the
FaceTrack), then Left/Right eye yaw/pitch/roll derived from the eyeLook channels. Head
translation has no column in this layout and is not written. Reading resamples dropped frames
onto a uniform grid and ignores the eye-rotation columns (the eyeLook channels carry gaze).
"""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..channels import ALL_CHANNELS, CHANNEL_INDEX, pascal_case
from ..errors import InputError
from ..track import FaceTrack

# Live Link Face's column order (Unreal's EARFaceBlendShape), which differs from Apple's.
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
HEAD_COLUMNS = {"HeadYaw": "headYaw", "HeadPitch": "headPitch", "HeadRoll": "headRoll"}
EYE_COLUMNS = (
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
)
GAZE_RANGE_RADIANS = 0.5  # eye rotation at an eyeLook weight of 1
DEFAULT_FPS = Fraction(60)  # Live Link Face records at 60 fps unless set otherwise

HEADER = (
    ["Timecode", "BlendShapeCount"]
    + [pascal_case(n) for n in LIVELINK_BLENDSHAPES]
    + list(HEAD_COLUMNS)
    + list(EYE_COLUMNS)
)


def write(track: FaceTrack, path: Path) -> None:
    values = track.values
    col = {name: i for i, name in enumerate(track.channels)}

    def column(name: str) -> np.ndarray:
        return values[:, col[name]] if name in col else np.zeros(track.frames, np.float32)

    blend = np.stack([column(n) for n in LIVELINK_BLENDSHAPES], axis=1)
    head = np.stack([column(c) for c in HEAD_COLUMNS.values()], axis=1)
    eyes = _eye_rotations(column)
    nominal = max(1, round(track.fps))
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for i in range(track.frames):
            row = np.concatenate([blend[i], head[i], eyes[i]])
            out.writerow(
                [_timecode(track.start_frame + i, nominal), len(row)]
                + [repr(float(v)) for v in row]
            )


def read(path: Path) -> FaceTrack:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "Timecode" not in rows[0]:
        raise InputError(f"{path}: not a Live Link Face CSV (no Timecode column)", field="track")
    names = {pascal_case(n): n for n in LIVELINK_BLENDSHAPES} | HEAD_COLUMNS
    present = [c for c in rows[0] if c in names]
    if not present:
        raise InputError(f"{path}: no ARKit blendshape columns found", field="track")
    stamps = [_parse_timecode(r["Timecode"]) for r in rows]
    nominal = _infer_nominal_rate(stamps)
    frames = np.array([((h * 60 + m) * 60 + s) * nominal + ff for h, m, s, ff in stamps])
    start = int(np.floor(frames[0]))
    index = frames - start
    n = int(round(index[-1])) + 1
    data = np.array([[float(r[c]) for c in present] for r in rows], dtype=np.float64)
    values = np.zeros((n, len(ALL_CHANNELS)), dtype=np.float32)
    grid = np.arange(n)
    for j, c in enumerate(present):
        values[:, CHANNEL_INDEX[names[c]]] = np.interp(grid, index, data[:, j])
    return FaceTrack.from_values(
        values,
        Fraction(nominal),
        layer="livelink",
        start_frame=start,
        provenance={"source": path.name, "format": "livelink-csv"},
    )


def _eye_rotations(column) -> np.ndarray:  # noqa: ANN001 - local accessor
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


def _parse_timecode(text: str) -> tuple[int, int, int, float]:
    try:
        hh, mm, ss, ff = text.strip().split(":")
        return int(hh), int(mm), int(ss), float(ff)
    except ValueError:
        raise InputError(
            f"bad Timecode {text!r}: expected HH:MM:SS:FF.mmm", field="Timecode"
        ) from None


def _infer_nominal_rate(stamps: list[tuple[int, int, int, float]]) -> int:
    """The rate is the largest frame field + 1 once a recording spans a full second."""
    if (stamps[-1][:3] != stamps[0][:3]) and len(stamps) > 1:
        return int(max(int(ff) for *_, ff in stamps)) + 1
    return int(DEFAULT_FPS)
