"""What a Clear Bake gives back: the scene as it was before the first bake.

Before a bake first touches an owner (the face's shape keys, a head target), `remember`
stores on the face (`Object.emospeaker.saved`, saved with the .blend) the values the bake will
change: every shape-key value, the head target's pose channels, and the action that was active
there (which a bake may stash). `restore` puts all of it back exactly and removes the
EmoSpeaker tracks; `release_head` does the same for one head target when the bake moves to
another, so the head never turns twice.
"""

from __future__ import annotations

import json

import bpy

from . import bake

KEY, HEAD = "KEY", "HEAD"
OBJECT_POSE = ("delta_location", "delta_rotation_euler", "delta_rotation_quaternion")
BONE_POSE = ("location", "rotation_euler", "rotation_quaternion")


def remember(face: bpy.types.Object, head: bake.HeadTarget | None) -> list[int]:
    """Record the face's and `head`'s state unless already recorded; the indices added.
    Nothing is recorded where the add-on's properties are not registered (bake.py used on its
    own, as scripts/bench_bake.py does)."""
    if not hasattr(face, "emospeaker"):
        return []
    saved = face.emospeaker.saved
    added = []
    key = face.data.shape_keys
    if key is not None and not any(s.kind == KEY for s in saved):
        item = saved.add()
        item.kind, item.obj = KEY, face
        item.values = json.dumps({kb.name: kb.value for kb in key.key_blocks})
        _save_action(item, key.animation_data)
        added.append(len(saved) - 1)
    if head is not None and _find(face, head.owner, head.bone) is None:
        item = saved.add()
        item.kind, item.obj, item.bone = HEAD, head.owner, head.bone
        item.values = json.dumps(_pose(head.owner, head.bone))
        _save_action(item, head.owner.animation_data)
        added.append(len(saved) - 1)
    return added


def forget(face: bpy.types.Object, added: list[int]) -> None:
    """Undo `remember` (a bake that failed half-way)."""
    for index in sorted(added, reverse=True):
        face.emospeaker.saved.remove(index)


def restore(face: bpy.types.Object, heads: list[bake.HeadTarget]) -> int:
    """Remove the bake's tracks from the face and every head target (those given, the last
    one baked, the recorded ones) and put back what was there before; returns tracks removed."""
    state = face.emospeaker
    owners = {(h.owner.name, h.bone): h.owner for h in heads}
    if state.head_owner is not None:
        owners[(state.head_owner.name, state.head_owner_bone)] = state.head_owner
    for item in state.saved:
        if item.kind == HEAD and item.obj is not None:
            owners[(item.obj.name, item.bone)] = item.obj
    removed = bake.clear(face)
    for obj in {o.name: o for o in owners.values()}.values():
        removed += _clear_owner(obj)
    for item in list(state.saved):
        _put_back(item, face)
    state.saved.clear()
    state.head_owner, state.head_owner_bone = None, ""
    return removed


def release_head(face: bpy.types.Object, keep: set[bpy.types.Action]) -> None:
    """The last head target baked loses its EmoSpeaker strips (except actions in `keep`, just
    made) and gets its pose and action back: called when a bake moves head pose elsewhere."""
    state = face.emospeaker
    owner, bone = state.head_owner, state.head_owner_bone
    if owner is None:
        return
    animdata = owner.animation_data
    for track in bake.our_tracks(animdata):
        for strip in [s for s in track.strips if s.action not in keep]:
            action = strip.action
            track.strips.remove(strip)
            if action.users == 0:
                bpy.data.actions.remove(action)
        if not track.strips:
            animdata.nla_tracks.remove(track)
    item = _find(face, owner, bone)
    if item is not None:
        _put_back(item, face)
        state.saved.remove(list(state.saved).index(item))


def _clear_owner(obj: bpy.types.Object) -> int:
    animdata = obj.animation_data
    tracks = bake.our_tracks(animdata)
    for track in tracks:
        actions = [s.action for s in track.strips]
        animdata.nla_tracks.remove(track)
        for action in actions:
            if action.users == 0:
                bpy.data.actions.remove(action)
    return len(tracks)


def _find(face: bpy.types.Object, owner: bpy.types.Object, bone: str):  # noqa: ANN202
    return next(
        (s for s in face.emospeaker.saved if s.kind == HEAD and s.obj == owner and s.bone == bone),
        None,
    )


def _pose(owner: bpy.types.Object, bone: str) -> dict[str, list[float]]:
    target = owner.pose.bones[bone] if bone else owner
    names = BONE_POSE if bone else OBJECT_POSE
    return {n: list(getattr(target, n)) for n in names}


def _save_action(item, animdata: bpy.types.AnimData | None) -> None:  # noqa: ANN001
    if animdata is None or animdata.action is None or bake.is_ours(animdata.action):
        return
    item.action = animdata.action
    slot = getattr(animdata, "action_slot", None)
    item.slot = slot.identifier if slot is not None else ""


def _put_back(item, face: bpy.types.Object) -> None:  # noqa: ANN001
    """Values first, then the action that was active (its keys win again, as before)."""
    values = json.loads(item.values or "{}")
    if item.kind == KEY:
        key = face.data.shape_keys
        if key is None:
            return
        for name, value in values.items():
            if name in key.key_blocks:
                key.key_blocks[name].value = value
        _reactivate(key, item)
        return
    owner = item.obj
    if owner is None:
        return
    target = owner.pose.bones.get(item.bone) if item.bone else owner
    if target is not None:
        for name, value in values.items():
            setattr(target, name, value)
    _reactivate(owner, item)


def _reactivate(idb: bpy.types.ID, item) -> None:  # noqa: ANN001
    """Make the recorded action active again, dropping the muted stash track a bake put it
    in (a track named like Blender's own stash holding only that action)."""
    action = item.action
    if action is None:
        return
    animdata = idb.animation_data or idb.animation_data_create()
    for track in list(animdata.nla_tracks):
        strips = list(track.strips)
        if (
            track.name.startswith(bake.STASH_TRACK)
            and len(strips) == 1
            and strips[0].action == action
        ):
            animdata.nla_tracks.remove(track)
    if animdata.action != action:
        animdata.action = action
    if item.slot and hasattr(animdata, "action_slot"):
        slot = next((s for s in action.slots if s.identifier == item.slot), None)
        if slot is not None:
            animdata.action_slot = slot
