"""The channel mapping of a target object: which shape key each FaceTrack channel drives, with
gain and offset, and which head channels go to the head target."""

from __future__ import annotations

import bpy

from .arkit import ARKIT_BLENDSHAPES, HEAD_CHANNELS, match_shape_keys
from .bake import Binding, HeadTarget


class MappingProblem(Exception):
    pass


def automatic(obj: bpy.types.Object) -> list[Binding]:
    """A binding for all 58 channels, shape keys matched by name (empty where none fits)."""
    key = obj.data.shape_keys if obj.type == "MESH" else None
    names = [kb.name for kb in key.key_blocks[1:]] if key else []
    found = match_shape_keys(names)
    return [Binding(c, found.get(c, "")) for c in ARKIT_BLENDSHAPES] + [
        Binding(c) for c in HEAD_CHANNELS
    ]


def bindings(obj: bpy.types.Object) -> list[Binding]:
    """The object's enabled mapping rows, or the automatic mapping when it has none yet."""
    rows = obj.emospeaker.mapping
    if not len(rows):
        return automatic(obj)
    return [Binding(r.channel, r.shape_key, r.gain, r.offset) for r in rows if r.enabled]


def store(obj: bpy.types.Object, items: list[Binding]) -> None:
    rows = obj.emospeaker.mapping
    rows.clear()
    for b in items:
        row = rows.add()
        row.channel, row.shape_key, row.gain, row.offset = b.channel, b.shape_key, b.gain, b.offset
    obj.emospeaker.mapping_index = 0


def head_target(settings, obj: bpy.types.Object) -> HeadTarget | None:  # noqa: ANN001
    """Where head pose goes, per the scene settings; errors say what to pick."""
    if settings.head_mode == "NONE":
        return None
    if settings.head_mode == "OBJECT":
        return HeadTarget(settings.head_object or obj)
    arm = settings.head_object
    if arm is None or arm.type != "ARMATURE":
        raise MappingProblem("choose the armature that holds the head bone (or Head Pose: None)")
    if settings.head_bone not in arm.pose.bones:
        raise MappingProblem(f"armature '{arm.name}' has no bone '{settings.head_bone}'")
    return HeadTarget(arm, settings.head_bone)
