"""Custom emotion poses: a character's own face for an emotion at intensity 1.

An animator stores, per emotion, the weights of the ARKit blendshapes that make their
character look happy, angry, ... (the Blender add-on's Store Pose). The default engine's emotion
layer then uses that vector instead of its FACS prototype, scaled by the keyed intensity with
the same smoothing. The poses travel in AnimateRequest.emotion_poses and, for reuse on another
shot or outside Blender, in a JSON file that the add-on exports and imports and that
`emospeaker animate --emotion-poses FILE.json` reads:

    {"format": "emospeaker-emotion-poses", "version": 1, "character": "Face",
     "poses": {"happy": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.75, ...}, ...},
     "gains": {"lip_gain": 1.2, "head_motion": 0.5, "blink_rate": 1.0}}

`gains` are the character's engine options (mouth amplitude, head motion, blink rate).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .channels import ALL_CHANNELS, ARKIT_BLENDSHAPES
from .emotion import EMOTIONS
from .errors import InputError

FORMAT = "emospeaker-emotion-poses"
VERSION = 1
LIMIT = 1.0  # weights lie in [-LIMIT, LIMIT]
GAINS = ("lip_gain", "head_motion", "blink_rate")  # the default engine's option names

EmotionPoses = Mapping[str, Mapping[str, float]]


def pose_vectors(poses: EmotionPoses | None, where: str = "emotion_poses") -> dict[str, np.ndarray]:
    """{emotion: [ALL_CHANNELS] vector}; errors name the emotion, channel and allowed values."""
    out: dict[str, np.ndarray] = {}
    for emotion, weights in (poses or {}).items():
        if emotion not in EMOTIONS:
            raise InputError(
                f"{where}: unknown emotion {emotion!r}; use one of {', '.join(EMOTIONS)}",
                field=where,
            )
        vector = np.zeros(len(ALL_CHANNELS), dtype=np.float64)
        for channel, value in weights.items():
            if channel not in ARKIT_BLENDSHAPES:
                raise InputError(
                    f"{where}.{emotion}: {channel!r} is not an ARKit blendshape name "
                    "(e.g. jawOpen, mouthSmileLeft)",
                    field=where,
                )
            if (
                not isinstance(value, (int, float))
                or not math.isfinite(value)
                or abs(value) > LIMIT
            ):
                raise InputError(
                    f"{where}.{emotion}.{channel}: {value!r} must be a number in "
                    f"[-{LIMIT:g}, {LIMIT:g}]",
                    field=where,
                )
            vector[ALL_CHANNELS.index(channel)] = float(value)
        out[emotion] = vector
    return out


def load_poses(path: str | Path) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """(poses, gains) from an emotion-poses JSON file; errors name the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read ({exc.strerror or exc})", field="emotion_poses"
        ) from None
    except ValueError as exc:
        raise InputError(f"{path}: not JSON ({exc})", field="emotion_poses") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(
            f'{path}: not an emotion-poses file (expected "format": "{FORMAT}")',
            field="emotion_poses",
        )
    if data.get("version") != VERSION:
        raise InputError(
            f"{path}: version {data.get('version')!r} is not supported (use {VERSION})",
            field="emotion_poses",
        )
    poses = data.get("poses", {})
    gains = data.get("gains", {})
    if not isinstance(poses, dict) or not all(isinstance(v, dict) for v in poses.values()):
        raise InputError(
            f'{path}: "poses" must map emotions to {{channel: weight}}', field="emotion_poses"
        )
    if not isinstance(gains, dict) or set(gains) - set(GAINS):
        raise InputError(f'{path}: "gains" may hold only {", ".join(GAINS)}', field="emotion_poses")
    pose_vectors(poses, f"{path.name}: poses")  # validates
    return poses, dict(gains)


def dump_poses(
    poses: EmotionPoses, gains: Mapping[str, float] | None = None, character: str = ""
) -> str:
    """The JSON text of an emotion-poses file (what the add-on's export writes)."""
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "character": character}
    data["poses"] = {e: dict(p) for e, p in poses.items()}
    data["gains"] = dict(gains or {})
    return json.dumps(data, indent=1)
