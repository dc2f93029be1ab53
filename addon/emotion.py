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
        _adopt_face_keys(face, action, slot)
        animdata.action = action
        if slot is not None:
            animdata.action_slot = slot
    return carrier


def _adopt_face_keys(face: bpy.types.Object, action: bpy.types.Action, slot: object) -> None:
    """Files from before the emotion object keyed the intensities on the face itself: copy
    those keys into the add-on's new action, or the first new key would hide them all. The
    face's own action is left as it was (it may be a rig's)."""
    for old in compat.active_fcurves(face.animation_data):
        if not old.data_path.startswith("emospeaker."):
            continue
        new = compat.new_fcurve(action, slot, old.data_path, old.array_index, GROUP)
        new.keyframe_points.add(len(old.keyframe_points))
        for source, copy in zip(old.keyframe_points, new.keyframe_points, strict=True):
            copy.co = source.co
            copy.interpolation = source.interpolation
            copy.handle_left_type, copy.handle_right_type = (
                source.handle_left_type,
                source.handle_right_type,
            )
            copy.handle_left, copy.handle_right = source.handle_left, source.handle_right
        new.update()


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
