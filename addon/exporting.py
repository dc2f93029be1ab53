"""Reading the baked animation back out of the scene, for Live Link CSV, JSON and glTF.

Exports what the animator sees: the shape keys and head pose as evaluated frame by frame (with
their edits, muted layers and strip influences), mapped back through the channel mapping.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import bpy
import numpy as np
from mathutils import Matrix

from . import bake
from . import emotion as emotions
from .arkit import ALL_CHANNELS, EMOTIONS
from .inputs import scene_fps
from .track import Track


def frame_range(scene: bpy.types.Scene, obj: bpy.types.Object) -> tuple[int, int]:
    """The baked frames on `obj`, or the scene's range when nothing is baked."""
    return bake.baked_range(obj) or (scene.frame_start, scene.frame_end)


def evaluate(
    scene: bpy.types.Scene,
    obj: bpy.types.Object,
    bindings: Sequence[bake.Binding],
    head: bake.HeadTarget | None,
    frames: tuple[int, int],
) -> Track:
    """The animation on `obj` over `frames` (inclusive) as a one-layer Track."""
    first, last = frames
    count = last - first + 1
    values = np.zeros((count, len(ALL_CHANNELS)), dtype=np.float32)
    emotion = np.zeros((count, len(EMOTIONS)), dtype=np.float32)
    key = obj.data.shape_keys
    blocks = key.key_blocks if key else []
    index = {kb.name: i for i, kb in enumerate(blocks)}
    rows = [
        (ALL_CHANNELS.index(b.channel), index[b.shape_key], b.gain, b.offset)
        for b in bindings
        if b.shape_key in index and b.channel in ALL_CHANNELS and b.gain != 0
    ]
    cols = np.array([r[0] for r in rows], dtype=int)
    keys = np.array([r[1] for r in rows], dtype=int)
    gains = np.array([r[2] for r in rows], dtype=np.float32)
    offsets = np.array([r[3] for r in rows], dtype=np.float32)
    head_gains = {b.channel: b.gain for b in bindings if b.channel in ALL_CHANNELS[52:]}
    basis = head.basis() if head is not None else None
    buf = np.empty(len(blocks), dtype=np.float32)
    keep = scene.frame_current, scene.frame_subframe
    pinned = obj.show_only_shape_key, obj.active_shape_key_index
    # the shape-key values are what we read: pinning the basis spares Blender deforming the
    # mesh at every frame (17x faster on the 31k-vertex demo head)
    obj.show_only_shape_key, obj.active_shape_key_index = True, 0
    try:
        for i, f in enumerate(range(first, last + 1)):
            scene.frame_set(f)
            if len(blocks):
                blocks.foreach_get("value", buf)
                values[i, cols] = (buf[keys] - offsets) / gains
            if head is not None:
                values[i, 52:] = _head_pose(head, basis, head_gains)
            emotion[i] = emotions.current(obj)
    finally:
        obj.show_only_shape_key, obj.active_shape_key_index = pinned
        scene.frame_set(keep[0], subframe=keep[1])
    return Track(
        fps=scene_fps(scene),
        layers={"performance": values},
        start_frame=first,
        emotion=emotion,
        provenance=_provenance(obj),
    )


def _head_pose(head: bake.HeadTarget, basis: np.ndarray, gains: dict[str, float]) -> np.ndarray:
    """headPitch, headYaw, headRoll, headX, headY, headZ from the target's current pose."""
    if head.bone:
        pb = head.owner.pose.bones[head.bone]
        rot = pb.matrix_basis.to_3x3()
        loc = np.array(pb.location)
    else:
        o = head.owner
        if o.rotation_mode == "QUATERNION":
            rot = o.delta_rotation_quaternion.to_matrix()
        else:
            rot = o.delta_rotation_euler.to_matrix()
        loc = np.array(o.delta_location)
        pivot = head.pivot_offset()
        if pivot is not None:  # the shift that kept the pivot in place is not head motion
            loc = loc - (np.eye(3) - np.array(rot)) @ pivot
    local = basis.T @ np.array(rot) @ basis
    e = Matrix(local.tolist()).to_euler("YXZ")  # R = Rz(yaw) Rx(pitch) Ry(roll)
    t = basis.T @ loc  # character space: x left of the face, -y out of it, z up
    pose = np.array([e.x, e.z, e.y, t[0], t[2], -t[1]])
    g = np.array([gains.get(c, 1.0) or 1.0 for c in ALL_CHANNELS[52:]])
    return pose / g


def _provenance(obj: bpy.types.Object) -> dict:
    """The engine provenance of the newest take baked on `obj`, plus where this came from."""
    found: dict = {}
    for track in bake.face_tracks(obj):
        for strip in track.strips:
            mark = bake.take_mark(strip)
            if mark.get("provenance"):
                found = json.loads(mark["provenance"])
    return {**found, "exported_from": f"blender {bpy.app.version_string}", "object": obj.name}


def export_gltf(
    context: bpy.types.Context, path: str, objects: list[bpy.types.Object], frames: tuple[int, int]
) -> None:
    """glTF/GLB of `objects` with the scene's animation over `frames` sampled per frame
    (shape keys become morph-target weights)."""
    scene, view_layer = context.scene, context.view_layer
    keep_range = scene.frame_start, scene.frame_end
    keep_selection = [o for o in view_layer.objects if o.select_get()]
    keep_active = view_layer.objects.active
    try:
        for o in keep_selection:
            o.select_set(False)
        for o in objects:
            o.select_set(True)
        view_layer.objects.active = objects[0]
        scene.frame_start, scene.frame_end = frames
        options = bpy.ops.export_scene.gltf.get_rna_type().properties.keys()
        # one clip holding the face's weights and the head's motion, not one per object
        single = {"export_anim_scene_split_object": False}
        bpy.ops.export_scene.gltf(
            **{k: v for k, v in single.items() if k in options},
            filepath=path,
            export_format="GLTF_SEPARATE" if path.lower().endswith(".gltf") else "GLB",
            use_selection=True,
            export_animations=True,
            export_animation_mode="SCENE",
            export_force_sampling=True,
            export_morph=True,
            export_morph_animation=True,
            export_apply=False,
        )
    finally:
        for o in objects:
            o.select_set(False)
        for o in keep_selection:
            o.select_set(True)
        view_layer.objects.active = keep_active
        scene.frame_start, scene.frame_end = keep_range
