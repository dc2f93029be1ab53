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
    """Every F-curve of the action (all slots on Blender 4.4+, the legacy list on 4.2)."""
    if not hasattr(action, "layers"):
        return list(action.fcurves)
    return [
        fc
        for layer in action.layers
        for strip in layer.strips
        for bag in strip.channelbags
        for fc in bag.fcurves
    ]


def strips(editor):  # noqa: ANN001, ANN201
    """The Sequencer's top-level strips (`sequences` before Blender 4.4)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def add_dialogue(scene: bpy.types.Scene, name: str, path: str, start: int) -> str:
    """The dialogue as a sound strip from `start`; where this Blender has no audio (the bpy
    4.2 wheel is built without Audaspace, so it cannot make sound strips) the same sound as
    Generate's audio file from `start`. Returns "STRIP" or "FILE"."""
    settings = scene.emospeaker
    editor = scene.sequence_editor_create()
    try:
        strips(editor).new_sound(name, path, 1, start)
    except RuntimeError as exc:
        if "Audaspace" not in str(exc):
            raise
        settings.audio_source, settings.audio_file, settings.file_start = "FILE", path, start
        return "FILE"
    settings.audio_source, settings.sound_strip = "STRIP", name
    return "STRIP"


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
            state = o.emospeaker
            entry["emotion"] = [
                value
                for e in state.bl_rna.properties.keys()
                if isinstance(value := getattr(state, e), float)
            ]
            entry["saved"] = [
                (
                    s.kind,
                    s.obj.name if s.obj else "",
                    s.bone,
                    s.values,
                    s.action.name if s.action else "",
                )
                for s in state.saved
            ]
            entry["poses"] = [
                (p.emotion, [(v.channel, v.value) for v in p.values]) for p in state.poses
            ]
            entry["head_owner"] = (
                state.head_owner.name if state.head_owner else "",
                state.head_owner_bone,
            )
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


class FakeLayout:
    """Stands in for UILayout when drawing panels headless (Blender draws no UI without a
    window): checks every call against UILayout's real signature, property names, operator
    ids and icon names, so a typo in draw code fails a test instead of the user's sidebar."""

    ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())

    def __init__(self, calls: list) -> None:
        self.calls = calls
        self.enabled = True
        self.scale_y = 1.0
        self.use_property_split = False

    def _check(self, name: str, kwargs: dict) -> None:
        params = bpy.types.UILayout.bl_rna.functions[name].parameters.keys()
        unknown = set(kwargs) - set(params)
        assert not unknown, f"UILayout.{name} has no parameter {unknown}"
        icon = kwargs.get("icon")
        assert icon is None or icon in self.ICONS, f"unknown icon {icon!r}"
        self.calls.append((name, kwargs.get("text")))

    def _has(self, data, prop: str) -> None:  # noqa: ANN001
        rna = getattr(data, "bl_rna", None)
        assert rna is not None and prop in rna.properties, f"{data!r} has no property {prop!r}"

    def _sub(self, name: str, **kwargs: object) -> FakeLayout:
        self._check(name, kwargs)
        return FakeLayout(self.calls)

    def row(self, **kw: object) -> FakeLayout:
        return self._sub("row", **kw)

    def column(self, **kw: object) -> FakeLayout:
        return self._sub("column", **kw)

    def box(self, **kw: object) -> FakeLayout:
        return self._sub("box", **kw)

    def split(self, **kw: object) -> FakeLayout:
        return self._sub("split", **kw)

    def separator(self, **kw: object) -> None:
        self._check("separator", kw)

    def label(self, **kw: object) -> None:
        self._check("label", kw)

    def progress(self, **kw: object) -> None:
        self._check("progress", kw)

    def prop(self, data, prop: str, **kw: object) -> None:  # noqa: ANN001
        self._has(data, prop)
        self._check("prop", kw)

    def prop_search(self, data, prop: str, search_data, search_prop: str, **kw: object) -> None:  # noqa: ANN001
        self._has(data, prop)
        self._has(search_data, search_prop)
        self._check("prop_search", kw)

    def template_list(
        self, list_type: str, list_id: str, data, prop: str, active, active_prop: str, **kw: object
    ) -> None:  # noqa: ANN001, E501
        assert hasattr(bpy.types, list_type), f"no UIList {list_type}"
        self._has(data, prop)
        self._has(active, active_prop)
        self._check("template_list", kw)

    def operator(self, idname: str, **kw: object) -> object:
        module, name = idname.split(".")
        op = getattr(getattr(bpy.ops, module), name)
        op.get_rna_type()  # raises for an unknown operator
        self._check("operator", kw)
        return _OperatorProps(op.get_rna_type())


class _OperatorProps:
    def __init__(self, rna) -> None:  # noqa: ANN001
        object.__setattr__(self, "_rna", rna)

    def __setattr__(self, name: str, value: object) -> None:
        assert name in self._rna.properties, f"operator has no property {name!r}"


class Drawn:
    """`self` for a draw function: the real data's attributes, a FakeLayout as layout."""

    def __init__(self, real, calls: list, **extra: object) -> None:  # noqa: ANN001
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "layout", FakeLayout(calls))
        for k, v in extra.items():
            object.__setattr__(self, k, v)

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)
