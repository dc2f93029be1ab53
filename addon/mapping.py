"""The channel mapping of a target object: which shape key each FaceTrack channel drives, with
gain and offset, and which head channels go to the head target."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

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
    """Where head pose goes, per the scene settings; errors say what to pick.

    AUTO (and OBJECT with no object chosen) never turns the face about a far-away origin:
    see `automatic_head`."""
    if settings.head_mode == "NONE":
        return None
    if settings.head_mode == "AUTO" or (
        settings.head_mode == "OBJECT" and settings.head_object is None
    ):
        return automatic_head(obj)
    if settings.head_mode == "OBJECT":
        return HeadTarget(settings.head_object, reason="chosen object")
    arm = settings.head_object
    if arm is None or arm.type != "ARMATURE":
        raise MappingProblem("choose the armature that holds the head bone (or Head Pose: None)")
    if settings.head_bone not in arm.pose.bones:
        raise MappingProblem(f"armature '{arm.name}' has no bone '{settings.head_bone}'")
    return HeadTarget(arm, settings.head_bone, reason="chosen bone")


HEAD_BONE_WORDS = ("head", "neck")  # in order of preference
EYE_SKIP = ("lash", "brow", "lid", "socket", "shadow", "occlu")


def automatic_head(obj: bpy.types.Object) -> HeadTarget:
    """The head target found from the rig itself:

    1. a head (else neck) bone of the armature that deforms or parents the face;
    2. else the face's top-level parent (the transform empty a glTF head sits under), which
       carries the eyes, teeth and face together;
    3. else the face mesh itself, turned about the head's pivot estimated from the eyes
       (never about its origin, which may sit far from the head)."""
    for arm in _armatures(obj):
        bone = head_bone(arm)
        if bone:
            return HeadTarget(arm, bone, reason=f"bone '{bone}' of armature '{arm.name}'")
    root = obj
    while root.parent is not None:
        root = root.parent
    if root is not obj:
        return HeadTarget(root, reason=f"'{root.name}', the top-level parent of the face")
    pivot, how = head_pivot(obj)
    return HeadTarget(obj, pivot=pivot, reason=f"the face itself, turned about {how}")


def _armatures(obj: bpy.types.Object) -> list[bpy.types.Object]:
    found = [m.object for m in obj.modifiers if m.type == "ARMATURE" and m.object is not None]
    parent = obj.parent
    while parent is not None:
        if parent.type == "ARMATURE":
            found.append(parent)
        parent = parent.parent
    return list(dict.fromkeys(found))


def head_bone(arm: bpy.types.Object) -> str:
    """The armature's head bone (an exact 'head' first, then a name containing it), else its
    neck bone; '' when it has neither."""
    names = [b.name for b in arm.pose.bones]
    for word in HEAD_BONE_WORDS:
        exact = [n for n in names if _bare(n) == word]
        loose = [n for n in names if word in n.lower() and "end" not in n.lower()]
        if exact or loose:
            return (exact or loose)[0]
    return ""


def _bare(name: str) -> str:
    """'DEF-head.x', 'mixamorig:Head', 'Head_M' -> 'head'."""
    name = name.lower().rsplit(":", 1)[-1]
    for prefix in ("def-", "def_", "org-", "mch-"):
        name = name.removeprefix(prefix)
    return name.split(".")[0].removesuffix("_m").removesuffix("_c")


def head_pivot(obj: bpy.types.Object) -> tuple[tuple[float, float, float], str]:
    """A head pivot in the face's own coordinates, and how it was found.

    From the eyes (eye objects beside or under the face, else the vertices the eyeBlink shape
    keys move): behind and below the point between them by fixed multiples of their distance
    (the top of the neck lies about 1.2 eye-distances below and behind the eyes; the face is
    taken to look along -Y with Z up, as the FaceTrack's head channels assume). Without eyes:
    the centre of the face mesh's bounds."""
    eyes = _eye_objects(obj) or _eye_shapes(obj)
    if eyes is not None:
        (left, right), how = eyes
        mid = (left + right) / 2
        gap = (left - right).length
        pivot = mid + Vector((0.0, 1.2 * gap, -1.2 * gap))
        return tuple(pivot), f"a pivot behind the eyes (from {how})"
    corners = [Vector(c) for c in obj.bound_box]
    centre = sum(corners, Vector()) / len(corners)
    return tuple(centre), "the centre of the face mesh (no eyes found)"


def _eye_objects(obj: bpy.types.Object) -> tuple[tuple[Vector, Vector], str] | None:
    """Centres of two eye meshes among the face's children and siblings, in face space."""
    nearby = list(obj.children) + (list(obj.parent.children) if obj.parent else [])
    eyes = [
        o
        for o in nearby
        if o is not obj
        and o.type == "MESH"
        and "eye" in o.name.lower()
        and not any(w in o.name.lower() for w in EYE_SKIP)
    ]
    if len(eyes) < 2:
        return None
    to_face = obj.matrix_world.inverted()
    centres = [
        to_face @ (o.matrix_world @ (sum((Vector(c) for c in o.bound_box), Vector()) / 8))
        for o in eyes
    ]
    centres.sort(key=lambda v: v.x)
    return (centres[-1], centres[0]), "the eye objects"


def _eye_shapes(obj: bpy.types.Object) -> tuple[tuple[Vector, Vector], str] | None:
    """Where eyeBlinkLeft and eyeBlinkRight move the mesh (the lids), in face space."""
    key = obj.data.shape_keys if obj.type == "MESH" else None
    if key is None:
        return None
    found = match_shape_keys(kb.name for kb in key.key_blocks[1:])
    names = [found.get("eyeBlinkLeft"), found.get("eyeBlinkRight")]
    if not all(names):
        return None
    basis = np.empty(len(key.reference_key.data) * 3)
    key.reference_key.data.foreach_get("co", basis)
    basis = basis.reshape(-1, 3)
    points = []
    for name in names:
        co = np.empty(basis.size)
        key.key_blocks[name].data.foreach_get("co", co)
        weight = np.linalg.norm(co.reshape(-1, 3) - basis, axis=1)
        if weight.sum() <= 0:
            return None
        points.append(Vector(weight @ basis / weight.sum()))
    return (points[0], points[1]), "the eyeBlink shape keys"
