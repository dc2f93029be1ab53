"""The channel set of every FaceTrack: Apple's 52 ARKit blendshapes plus head pose.

Blendshape weights live in [0, 1]. Head rotation is in radians (pitch: positive looks down,
yaw: positive turns to the character's left, roll: positive tilts to the character's left)
and head translation in metres, relative to the rest pose. Other bases (a studio rig, a
3DMM) are mappings from this set, never parallel code paths.
"""

from __future__ import annotations

# Apple's ARFaceAnchor.BlendShapeLocation, in the order of Apple's documentation.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    # left eye
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    # right eye
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    # mouth and jaw
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    # eyebrows
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    # cheeks
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    # nose
    "noseSneerLeft", "noseSneerRight",
    # tongue
    "tongueOut",
)  # fmt: skip

HEAD_ROTATION: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
HEAD_TRANSLATION: tuple[str, ...] = ("headX", "headY", "headZ")
HEAD_CHANNELS: tuple[str, ...] = HEAD_ROTATION + HEAD_TRANSLATION

ALL_CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES + HEAD_CHANNELS
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(ALL_CHANNELS)}

assert len(ARKIT_BLENDSHAPES) == 52 and len(set(ALL_CHANNELS)) == 58


def pascal_case(name: str) -> str:
    """`jawOpen` -> `JawOpen`, the spelling of Live Link Face and Unreal."""
    return name[:1].upper() + name[1:]


def index_of(name: str) -> int:
    """Column of `name` in ALL_CHANNELS; a clear error lists where the names come from."""
    try:
        return CHANNEL_INDEX[name]
    except KeyError:
        raise KeyError(
            f"unknown channel {name!r}: channels are the 52 ARKit blendshapes "
            f"(e.g. 'jawOpen') and {', '.join(HEAD_CHANNELS)}"
        ) from None


def indices(*names: str) -> list[int]:
    return [index_of(n) for n in names]


def is_blendshape(name: str) -> bool:
    return name in CHANNEL_INDEX and CHANNEL_INDEX[name] < len(ARKIT_BLENDSHAPES)


def expand_pairs(mapping: dict[str, float]) -> dict[str, float]:
    """A table whose `name*` keys stand for the Left and Right pair (`{"browDown*": 1.0}`)
    with each such key written out as its two channels; a later key wins a repeated name."""
    out: dict[str, float] = {}
    for key, value in mapping.items():
        names = (key[:-1] + "Left", key[:-1] + "Right") if key.endswith("*") else (key,)
        out.update(dict.fromkeys(names, value))
    return out


def mirror(name: str) -> str:
    """The Left/Right counterpart of a channel (itself when it has none)."""
    if name.endswith("Left"):
        return name[:-4] + "Right"
    if name.endswith("Right"):
        return name[:-5] + "Left"
    return name
