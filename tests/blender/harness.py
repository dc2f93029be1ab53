"""Runs inside a fresh Blender (bpy) process: install the built extension, describe the scene.

Each scenario in scenarios.py runs in its own process so no state bleeds between them.
"""

from __future__ import annotations

import importlib
import os

import bpy

assert os.environ.get("BLENDER_USER_RESOURCES"), "set BLENDER_USER_RESOURCES before importing bpy"

MODULE = "bl_ext.user_default.emospeaker"


def install(zip_path: str):  # noqa: ANN201 - the add-on package
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True
    )
    assert result == {"FINISHED"}, result
    # Background Blender has no undo stack until one is pushed; then operators push steps
    bpy.ops.ed.undo_push(message="initial")
    return importlib.import_module(MODULE)


def addon_prefs():  # noqa: ANN201
    return bpy.context.preferences.addons[MODULE].preferences


def call(op, *args, **kwargs) -> tuple[set[str], str]:  # noqa: ANN001
    """Run an operator; (result, error text) with ERROR reports caught instead of raised."""
    try:
        return op(*args, **kwargs), ""
    except RuntimeError as exc:
        return {"CANCELLED"}, str(exc)


def call_undoable(op, **kwargs) -> tuple[set[str], str]:  # noqa: ANN001
    """Run an operator as the UI does: after an undo step of the state before it, and pushing
    its own step when it finishes (Python calls push only when asked to)."""
    bpy.ops.ed.undo_push(message="before")
    return call(op, "EXEC_DEFAULT", True, **kwargs)


def fcurves(action: bpy.types.Action) -> list[bpy.types.FCurve]:
    return [
        fc
        for layer in action.layers
        for strip in layer.strips
        for bag in strip.channelbags
        for fc in bag.fcurves
    ]


def _animdata(idb) -> dict | None:  # noqa: ANN001
    ad = idb.animation_data
    if ad is None:
        return None
    return {
        "action": ad.action.name if ad.action else None,
        "tracks": [
            (
                t.name,
                t.mute,
                [
                    (s.name, s.action.name, s.frame_start, s.frame_end, s.blend_type)
                    for s in t.strips
                ],
            )
            for t in ad.nla_tracks
        ],
    }


def fingerprint() -> dict:
    """Everything a bake could touch, to compare a scene before and after (evaluated at the
    scene's first frame, as animated values depend on the frame)."""
    bpy.context.scene.frame_set(bpy.context.scene.frame_start)
    out: dict = {
        "counts": {
            name: len(getattr(bpy.data, name))
            for name in ("actions", "objects", "meshes", "shape_keys", "texts", "armatures")
        },
        "actions": {
            a.name: [
                (fc.data_path, fc.array_index, [tuple(kp.co) for kp in fc.keyframe_points])
                for fc in fcurves(a)
            ]
            for a in bpy.data.actions
        },
        "objects": {},
        "keys": {},
    }
    for o in bpy.data.objects:
        entry = {
            "matrix": [list(r) for r in o.matrix_basis],
            "delta": [tuple(o.delta_location), tuple(o.delta_rotation_euler)],
            "anim": _animdata(o),
        }
        if hasattr(o, "emospeaker"):
            entry["emotion"] = [
                getattr(o.emospeaker, e)
                for e in o.emospeaker.bl_rna.properties.keys()
                if e not in ("rna_type", "name", "mapping", "mapping_index")
            ]
            entry["mapping"] = [
                (r.channel, r.shape_key, r.gain, r.offset) for r in o.emospeaker.mapping
            ]
        if o.type == "ARMATURE":
            entry["pose"] = [
                (b.name, tuple(b.rotation_quaternion), tuple(b.location)) for b in o.pose.bones
            ]
        out["objects"][o.name] = entry
    for k in bpy.data.shape_keys:
        out["keys"][k.name] = {"values": [b.value for b in k.key_blocks], "anim": _animdata(k)}
    return out
