"""Channel and emotion names of the FaceTrack, and matching them to a rig's shape keys.

The add-on cannot import the backend, so the names are repeated here; a test checks that
they equal `emospeaker.channels` and `emospeaker.emotion`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)  # fmt: skip
HEAD_ROTATION: tuple[str, ...] = ("headPitch", "headYaw", "headRoll")
HEAD_TRANSLATION: tuple[str, ...] = ("headX", "headY", "headZ")
HEAD_CHANNELS: tuple[str, ...] = HEAD_ROTATION + HEAD_TRANSLATION
ALL_CHANNELS: tuple[str, ...] = ARKIT_BLENDSHAPES + HEAD_CHANNELS

EMOTIONS: tuple[str, ...] = (
    "neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised",
)  # fmt: skip
MAX_INTENSITY = 4.0
LAYERS: tuple[str, ...] = ("lips", "emotion", "head", "eyes")

_SIDE_SUFFIX = re.compile(r"[._\-\s]([LlRr])$")  # eyeBlink_L, eyeBlink.R, eyeBlink-l
_BARE_SIDE = re.compile(r"(?<=[a-z])([LR])$")  # eyeBlinkL (tried only when nothing else fits)
_PREFIX_END = re.compile(r"[._:|/\-\s]")  # blendShape1.jawOpen, Face:jawOpen, A01_jawOpen


def normalise(name: str) -> str:
    """Spelling-free form: `eyeBlink_L`, `EyeBlinkLeft`, `eye_blink_left` -> `eyeblinkleft`."""
    name = _SIDE_SUFFIX.sub(lambda m: "Left" if m.group(1) in "Ll" else "Right", name.strip())
    return re.sub(r"[^a-z0-9]", "", name.lower())


_CANONICAL = {normalise(c): c for c in ARKIT_BLENDSHAPES}


def channel_for(name: str) -> str | None:
    """The ARKit blendshape a shape key name means, or None.

    Tries the whole name, then what follows each separator (so a prefix such as
    `blendShape1.`, `Face:`, `A01_` or `CTRL_expressions_` is dropped); each candidate is
    compared without case or separators, with `_L`/`.R`/`-l`-style side suffixes read as
    Left/Right, and a bare trailing `L`/`R` (`eyeBlinkL`) as a last resort."""
    return _match(name)[0]


def _match(name: str) -> tuple[str | None, bool]:
    """(channel, whether the whole name spells it, no prefix dropped)."""
    cuts = [0] + [m.end() for m in _PREFIX_END.finditer(name)]
    for cut in cuts:
        candidate = name[cut:]
        found = _CANONICAL.get(normalise(candidate))
        if found:
            return found, cut == 0
        bare = _BARE_SIDE.sub(lambda m: "Left" if m.group(1) == "L" else "Right", candidate)
        found = _CANONICAL.get(normalise(bare))
        if found:
            return found, cut == 0
    return None, False


def match_shape_keys(names: Iterable[str]) -> dict[str, str]:
    """{ARKit channel: shape key name} for every channel some name means.

    A name that means the channel as a whole (`jawOpen`, `JawOpen`) wins over one that means
    it only after a prefix is dropped (`Old_jawOpen`); otherwise the first name wins."""
    found: dict[str, tuple[str, bool]] = {}
    for name in names:
        channel, whole = _match(name)
        if channel is None:
            continue
        if channel not in found or (whole and not found[channel][1]):
            found[channel] = (name, whole)
    return {channel: name for channel, (name, _) in found.items()}


def unmatched(found: dict[str, str]) -> list[str]:
    """The ARKit blendshapes no shape key receives, in the FaceTrack's order."""
    return [c for c in ARKIT_BLENDSHAPES if c not in found]
