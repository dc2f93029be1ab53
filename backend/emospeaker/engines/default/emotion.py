"""The emotion layer: per-category FACS Action-Unit prototypes, mapped to ARKit channels.

Table 1, prototypes (AU activation at intensity 1; after Ekman & Friesen's EMFACS). Intensity
1 is MEAD's strongest level (3), a posed, exaggerated expression that reads at a glance, so
each category's defining AUs are at or near full activation:

| emotion   | Action Units                                                        |
|-----------|---------------------------------------------------------------------|
| neutral   | none                                                                |
| happy     | AU6 0.7, AU7 0.2, AU12 1.0, AU25 0.4, AU26 0.4                      |
| sad       | AU1 1.0, AU4 0.6, AU15 1.0, AU17 0.6, AU43 0.25, AU64 0.3           |
| surprised | AU1 1.0, AU2 1.0, AU5 1.0, AU25 0.4, AU26 0.6                       |
| fear      | AU1 1.0, AU2 0.7, AU4 0.6, AU5 1.0, AU7 0.3, AU20 1.0, AU25 0.5,    |
|           | AU26 0.3                                                            |
| angry     | AU4 1.0, AU5 0.3, AU7 1.0, AU9 0.4, AU10 0.3, AU17 0.5, AU23 0.9,   |
|           | AU24 0.45                                                           |
| disgusted | AU4 0.4, AU6 0.3, AU9 1.0, AU10 0.7, AU15 0.5, AU16 0.3, AU17 0.5   |
| contempt  | AU12R 0.8, AU14R 1.0, AU2R 0.2 (right side only)                    |

Table 2, Action Unit -> ARKit (`*` = the Left and Right pair):

| AU   | name                 | ARKit channels                                          |
|------|----------------------|---------------------------------------------------------|
| 1    | inner brow raiser    | browInnerUp 1.0                                         |
| 2    | outer brow raiser    | browOuterUp* 1.0 (2R: browOuterUpRight only)            |
| 4    | brow lowerer         | browDown* 1.0                                           |
| 5    | upper lid raiser     | eyeWide* 1.0                                            |
| 6    | cheek raiser         | cheekSquint* 1.0, eyeSquint* 0.3                        |
| 7    | lid tightener        | eyeSquint* 1.0                                          |
| 9    | nose wrinkler        | noseSneer* 1.0                                          |
| 10   | upper lip raiser     | mouthUpperUp* 0.8                                       |
| 12   | lip corner puller    | mouthSmile* 1.0 (12R: mouthSmileRight only)             |
| 14   | dimpler              | mouthDimple* 1.0 (14R: mouthDimpleRight only)           |
| 15   | lip corner depressor | mouthFrown* 1.0                                         |
| 16   | lower lip depressor  | mouthLowerDown* 0.7                                     |
| 17   | chin raiser          | mouthShrugLower 1.0, mouthShrugUpper 0.3                |
| 20   | lip stretcher        | mouthStretch* 1.0                                       |
| 23   | lip tightener        | mouthPress* 0.6, mouthRollLower 0.15, mouthRollUpper 0.15 |
| 24   | lip presser          | mouthPress* 1.0                                         |
| 25   | lips part            | mouthLowerDown* 0.25, mouthUpperUp* 0.1                 |
| 26   | jaw drop             | jawOpen 0.6                                             |
| 43   | eyes closing         | eyeBlink* 1.0                                           |
| 64   | eyes down            | eyeLookDown* 1.0                                        |

Intensity is shaped by `shape_intensity` (x -> 1.6 tanh(x / 1.6): nearly linear up to 1,
then saturating smoothly, still rising at MAX_INTENSITY), categories add at the AU level, and
each channel passes a soft knee above 0.6 so values approach 1 without a hard clip: every
channel grows strictly and smoothly with intensity.

The layer also carries a small head posture per emotion (POSTURES: sad hangs the head,
surprise and fear pull it back, anger pushes the chin forward and down, contempt lifts and
tilts it), so muting the emotion layer removes the whole emotional display.

The channels that part the lips (jawOpen, mouthUpperUp*, mouthLowerDown*) are masked on
frames where the lips layer closes the lips (P/B/M, F/V), so emotion never breaks a closure,
and show at half strength while speaking (articulation owns the mouth), fully in pauses.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...channels import ALL_CHANNELS, expand_pairs, index_of, indices, is_blendshape
from ...emotion import EMOTIONS

PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"AU6": 0.7, "AU7": 0.2, "AU12": 1.0, "AU25": 0.4, "AU26": 0.4},
    "sad": {"AU1": 1.0, "AU4": 0.6, "AU15": 1.0, "AU17": 0.6, "AU43": 0.25, "AU64": 0.3},
    "surprised": {"AU1": 1.0, "AU2": 1.0, "AU5": 1.0, "AU25": 0.4, "AU26": 0.6},
    "fear": {"AU1": 1.0, "AU2": 0.7, "AU4": 0.6, "AU5": 1.0, "AU7": 0.3, "AU20": 1.0,
             "AU25": 0.5, "AU26": 0.3},
    "angry": {"AU4": 1.0, "AU5": 0.3, "AU7": 1.0, "AU9": 0.4, "AU10": 0.3, "AU17": 0.5,
              "AU23": 0.9, "AU24": 0.45},
    "disgusted": {"AU4": 0.4, "AU6": 0.3, "AU9": 1.0, "AU10": 0.7, "AU15": 0.5, "AU16": 0.3,
                  "AU17": 0.5},
    "contempt": {"AU12R": 0.8, "AU14R": 1.0, "AU2R": 0.2},
}  # fmt: skip

AU_TO_ARKIT: dict[str, dict[str, float]] = {
    "AU1": {"browInnerUp": 1.0},
    "AU2": {"browOuterUp*": 1.0},
    "AU2R": {"browOuterUpRight": 1.0},
    "AU4": {"browDown*": 1.0},
    "AU5": {"eyeWide*": 1.0},
    "AU6": {"cheekSquint*": 1.0, "eyeSquint*": 0.3},
    "AU7": {"eyeSquint*": 1.0},
    "AU9": {"noseSneer*": 1.0},
    "AU10": {"mouthUpperUp*": 0.8},
    "AU12": {"mouthSmile*": 1.0},
    "AU12R": {"mouthSmileRight": 1.0},
    "AU14": {"mouthDimple*": 1.0},
    "AU14R": {"mouthDimpleRight": 1.0},
    "AU15": {"mouthFrown*": 1.0},
    "AU16": {"mouthLowerDown*": 0.7},
    "AU17": {"mouthShrugLower": 1.0, "mouthShrugUpper": 0.3},
    "AU20": {"mouthStretch*": 1.0},
    "AU23": {"mouthPress*": 0.6, "mouthRollLower": 0.15, "mouthRollUpper": 0.15},
    "AU24": {"mouthPress*": 1.0},
    "AU25": {"mouthLowerDown*": 0.25, "mouthUpperUp*": 0.1},
    "AU26": {"jawOpen": 0.6},
    "AU43": {"eyeBlink*": 1.0},
    "AU64": {"eyeLookDown*": 1.0},
}

# head posture at intensity 1: radians (pitch > 0 looks down) and metres (z > 0 forward)
POSTURES: dict[str, dict[str, float]] = {
    "happy": {"headPitch": -0.02},
    "sad": {"headPitch": 0.09, "headZ": -0.003},
    "surprised": {"headPitch": -0.04, "headZ": -0.006},
    "fear": {"headPitch": 0.02, "headZ": -0.01},
    "angry": {"headPitch": 0.05, "headZ": 0.008},
    "disgusted": {"headPitch": -0.02, "headYaw": 0.05, "headZ": -0.005},
    "contempt": {"headPitch": -0.04, "headRoll": 0.05},
}

LIP_PARTING: tuple[str, ...] = (
    "jawOpen", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
    "mouthLowerDownRight",
)  # fmt: skip
SATURATION = 1.6
KNEE = 0.6
SPEAKING_SHARE = 0.5


def _matrix() -> np.ndarray:
    """[8 emotions, ALL_CHANNELS]: channel activation per unit of shaped intensity."""
    out = np.zeros((len(EMOTIONS), len(ALL_CHANNELS)))
    for e, emotion in enumerate(EMOTIONS):
        for au, activation in PROTOTYPES[emotion].items():
            for channel, weight in expand_pairs(AU_TO_ARKIT[au]).items():
                out[e, index_of(channel)] += activation * weight
    return out


def _postures() -> np.ndarray:
    out = np.zeros((len(EMOTIONS), len(ALL_CHANNELS)))
    for e, emotion in enumerate(EMOTIONS):
        for channel, value in POSTURES.get(emotion, {}).items():
            out[e, index_of(channel)] = value
    return out


EMOTION_TO_CHANNELS = _matrix()
EMOTION_POSTURES = _postures()
_IS_BLENDSHAPE = np.array([is_blendshape(c) for c in ALL_CHANNELS])


def shape_intensity(intensity: np.ndarray) -> np.ndarray:
    """Smooth, strictly increasing and saturating: ~x up to 1, 1.36 at 2, 1.58 at 4."""
    return SATURATION * np.tanh(np.maximum(intensity, 0.0) / SATURATION)


def soft_knee(values: np.ndarray) -> np.ndarray:
    """Identity below KNEE, then a smooth approach to 1 (C1-continuous, strictly rising)."""
    above = np.maximum(values - KNEE, 0.0)
    return np.minimum(values, KNEE) + (1 - KNEE) * np.tanh(above / (1 - KNEE))


def emotion_matrix(poses: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """EMOTION_TO_CHANNELS with the blendshape row of each emotion in `poses` replaced by
    that custom pose ([ALL_CHANNELS] weights at intensity 1, see emospeaker.poses)."""
    if not poses:
        return EMOTION_TO_CHANNELS
    out = EMOTION_TO_CHANNELS.copy()
    for emotion, vector in poses.items():
        row = EMOTIONS.index(emotion)
        out[row, _IS_BLENDSHAPE] = np.asarray(vector, dtype=np.float64)[_IS_BLENDSHAPE]
    return out


def emotion_layer(
    curves: np.ndarray,
    closure_mask: np.ndarray,
    speaking: np.ndarray | None = None,
    poses: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """[frames, ALL_CHANNELS] from emotion curves [frames, 8], the lips' closure mask and
    how much the face is speaking (0..1): while speaking, articulation owns the mouth and
    the lip-parting channels show at SPEAKING_SHARE of their strength; in pauses the held
    expression shows fully (a surprised mouth hangs open between phrases).

    `poses` (custom emotion poses) take the place of the prototypes of their emotions and go
    through the same intensity shaping, soft knee and closure masking; head postures stay."""
    shaped = shape_intensity(curves.astype(np.float64))
    layer = shaped @ emotion_matrix(poses)
    layer[:, _IS_BLENDSHAPE] = soft_knee(layer[:, _IS_BLENDSHAPE])
    layer += shaped @ EMOTION_POSTURES
    parting = indices(*LIP_PARTING)
    share = 1.0 if speaking is None else 1.0 - (1.0 - SPEAKING_SHARE) * np.clip(speaking, 0, 1)
    layer[:, parting] *= (share * (1.0 - np.clip(closure_mask, 0.0, 1.0)))[:, None]
    return layer.astype(np.float32)


def emotion_factor(curves: np.ndarray, per_emotion: dict[str, float]) -> np.ndarray:
    """Per-frame multiplier from a per-emotion table (1 for emotions not listed), each
    emotion weighed by its shaped intensity relative to intensity 1."""
    weights = shape_intensity(curves.astype(np.float64)) / shape_intensity(np.array(1.0))
    deltas = np.array([per_emotion.get(e, 1.0) - 1.0 for e in EMOTIONS])
    return np.maximum(0.05, 1.0 + weights @ deltas)
