"""Where a character's emotion keys live: on a small object the add-on owns.

The eight intensities are animatable properties; keying them on the face itself would put the
keys into whatever action the face already plays (a rig's capture action, in Blender 4.4+ as a
new slot of it), so deleting that action would delete the emotion keys. Instead each face gets
an empty, `EmoSpeaker emotion <face>`, parented to the face, whose only action is one the
add-on made ("EmoSpeaker emotion <face>", marked like the baked ones). Select it to edit the
curves in the Graph Editor or Dope Sheet.
"""

from __future__ import annotations

import bpy

from . import bake, compat
from .arkit import EMOTIONS

MARK = "emospeaker_emotion"
EMOTION_PATH = "emospeaker.{}"
GROUP = "EmoSpeaker Emotion"


def holder(face: bpy.types.Object) -> bpy.types.Object | None:
    """The object holding `face`'s emotion keys: its emotion object, or (files from before
    there was one) the face itself when it has emotion keys; None when there are none yet."""
    carrier = face.emospeaker.emotion_object
    if carrier is not None and carrier.name in bpy.data.objects:
        return carrier
    if any(fc.data_path.startswith("emospeaker.") for fc in compat.active_fcurves(
        face.animation_data
    )):  # fmt: skip
        return face
    return None


def ensure(face: bpy.types.Object) -> bpy.types.Object:
    """`face`'s emotion object with the add-on's own action active, made when missing."""
    carrier = face.emospeaker.emotion_object
    if carrier is None or carrier.name not in bpy.data.objects:
        carrier = bpy.data.objects.new(f"EmoSpeaker emotion {face.name}", None)
        carrier[MARK] = face.name
        carrier.empty_display_type = "PLAIN_AXES"
        carrier.empty_display_size = 0.01
        carrier.hide_render = True
        collections = face.users_collection or (bpy.context.scene.collection,)
        collections[0].objects.link(carrier)
        carrier.parent = face
        face.emospeaker.emotion_object = carrier
    animdata = carrier.animation_data or carrier.animation_data_create()
    if animdata.action is None or not bake.is_ours(animdata.action):
        action, slot = compat.new_action(f"EmoSpeaker emotion {face.name}", "OBJECT")
        action[bake.MARK] = '{"layer": "emotion keys"}'
        animdata.action = action
        if slot is not None:
            animdata.action_slot = slot
    return carrier


def is_carrier(obj: bpy.types.Object) -> bool:
    return MARK in obj.keys()


def key(face: bpy.types.Object, values: dict[str, float], frame: int) -> bpy.types.Object:
    """Set and key all eight intensities at `frame` on `face`'s emotion object."""
    carrier = ensure(face)
    for name, value in values.items():
        setattr(carrier.emospeaker, name, value)
    for name in EMOTIONS:
        carrier.keyframe_insert(EMOTION_PATH.format(name), frame=frame, group=GROUP)
    return carrier


def current(face: bpy.types.Object) -> list[float]:
    """The eight intensities at the current frame (0 when nothing is keyed)."""
    source = holder(face)
    return [getattr(source.emospeaker, e) if source else 0.0 for e in EMOTIONS]
