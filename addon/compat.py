"""The few Blender APIs that differ between 4.2 LTS and 5.0, behind one small interface.

Blender 4.4 introduced slotted actions (an action holds F-curves per *slot*, in channelbags
inside layers/strips) and 5.0 removed the legacy `Action.fcurves`. 4.2 has only the legacy
API. The Sequencer's `sequences` / `sequences_all` became `strips` / `strips_all` in 4.4 (the
old names left in 5.0). Everything else the add-on uses is the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable

import bpy

SLOTTED_ACTIONS = hasattr(bpy.types, "ActionSlot")


def new_action(name: str, id_type: str) -> tuple[bpy.types.Action, object | None]:
    """A new empty action for datablocks of `id_type` ('KEY', 'OBJECT'), and its slot."""
    action = bpy.data.actions.new(name)
    if not SLOTTED_ACTIONS:
        action.id_root = id_type
        return action, None
    slot = action.slots.new(id_type=id_type, name=name)
    return action, slot


def _channelbag(action: bpy.types.Action, slot: object, ensure: bool):
    if not action.layers:
        if not ensure:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not ensure:
            return None
        layer.strips.new(type="KEYFRAME")
    return layer.strips[0].channelbag(slot, ensure=ensure)


def new_fcurve(
    action: bpy.types.Action, slot: object | None, data_path: str, index: int = 0, group: str = ""
) -> bpy.types.FCurve:
    """An F-curve in `action` (for `slot` on slotted actions)."""
    if not SLOTTED_ACTIONS:
        return action.fcurves.new(data_path, index=index, action_group=group)
    return _channelbag(action, slot, True).fcurves.new(data_path, index=index, group_name=group)


def action_fcurves(action: bpy.types.Action | None, slot: object | None = None) -> Iterable:
    """The F-curves of `action` (for `slot`, or its first slot); empty when there are none."""
    if action is None:
        return ()
    if not SLOTTED_ACTIONS:
        return action.fcurves
    if slot is None:
        if not action.slots:
            return ()
        slot = action.slots[0]
    bag = _channelbag(action, slot, False)
    return bag.fcurves if bag is not None else ()


def active_fcurves(animdata: bpy.types.AnimData | None) -> Iterable:
    """The F-curves the active action drives on the owner of `animdata`."""
    if animdata is None or animdata.action is None:
        return ()
    slot = getattr(animdata, "action_slot", None)
    if SLOTTED_ACTIONS and slot is None:
        return ()
    return action_fcurves(animdata.action, slot)


def new_strip(
    track: bpy.types.NlaTrack, name: str, start: int, action: bpy.types.Action, slot: object | None
) -> bpy.types.NlaStrip:
    strip = track.strips.new(name, int(start), action)
    if slot is not None and strip.action_slot != slot:
        strip.action_slot = slot
    return strip


def sequencer_strips(scene: bpy.types.Scene) -> Iterable:
    """Every strip in the scene's Sequencer (meta strips' contents included)."""
    editor = scene.sequence_editor
    if editor is None:
        return ()
    return editor.strips_all if hasattr(editor, "strips_all") else editor.sequences_all


def editor_strips(editor: bpy.types.SequenceEditor) -> bpy.types.bpy_prop_collection:
    """The top-level strips of a Sequencer (where `new_movie` and `remove` live)."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def new_movie(
    editor: bpy.types.SequenceEditor, name: str, path: str, channel: int, frame_start: int
) -> bpy.types.Strip:
    """A movie strip of `path` (its picture only: the API adds no sound strip), scaled to fit
    the render size."""
    return editor_strips(editor).new_movie(
        name, path, int(channel), int(frame_start), fit_method="FIT"
    )
