"""Bake a Track onto a rig: shape keys and head pose, one NLA strip per layer.

Layout on the shape keys' animation data (and on the head target's, for head pose):

    EmoSpeaker eyes      ADD      one strip per take      <- mute the track, or scale a strip's
    EmoSpeaker head      ADD      (extrapolation: nothing)   influence, to rework one layer
    EmoSpeaker emotion   ADD
    EmoSpeaker lips      ADD
    EmoSpeaker base      REPLACE  every baked channel held at its offset (shape keys only)

NLA starts a channel it animates from the property's default, which is 1.0 for a shape key,
so the base strip holds the rest value (0 + offset) under the additive layers; their sum is then
clamped to the key's slider range exactly as the backend combines layers. Head pose uses
COMBINE strips (quaternions multiply, the rest adds) over the rest pose.

F-curves are written in bulk (`keyframe_points.add` + `foreach_set`). Everything is created
first and only then are the strips of an earlier take it replaces removed, so a failure leaves
the file as it was. Actions the add-on makes carry the ID property `emospeaker`; others are
never changed or removed: a conflicting active action is kept or stashed only when asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import compat, restore
from .arkit import ARKIT_BLENDSHAPES, HEAD_CHANNELS, HEAD_ROTATION, HEAD_TRANSLATION, LAYERS
from .track import Track

MARK = "emospeaker"
TRACK_PREFIX = "EmoSpeaker "
BASE = "base"
STACK = (BASE, *LAYERS)  # how the layer tracks stack, bottom first
STASH_TRACK = "[Action Stash]"
KEY_GROUP = "EmoSpeaker"


class BakeError(Exception):
    """A bake that cannot be done as asked; the message says why and what to change."""


class BakeConflict(BakeError):
    """Another action is active on the target and animates channels the bake writes."""


@dataclass
class Binding:
    """One track channel routed to one shape key (or to the head pose), scaled and offset."""

    channel: str
    shape_key: str = ""
    gain: float = 1.0
    offset: float = 0.0


@dataclass
class HeadTarget:
    """Where head pose goes: an object's delta transform, or a pose bone of an armature.

    pivot: for an object whose origin is not the head's pivot (a face mesh with its origin at
    the feet or the world centre), the point to turn about, in the object's own coordinates;
    the bake then also moves the object so that point stays put (see `pivot_offset`).
    reason: how the target was chosen, for the panel.
    """

    owner: bpy.types.Object
    bone: str = ""
    pivot: tuple[float, float, float] | None = None
    reason: str = ""

    def describe(self) -> str:
        return f"{self.owner.name}/{self.bone}" if self.bone else self.owner.name

    def pivot_offset(self) -> np.ndarray | None:
        """The pivot relative to the origin in the parent's space (R S p, without the delta
        transforms a bake writes), or None when the object turns about its origin."""
        if self.bone or self.pivot is None:
            return None
        scaled = [s * c for s, c in zip(self.owner.scale, self.pivot, strict=True)]
        return np.array(_own_rotation(self.owner) @ Vector(scaled), dtype=np.float64)

    def rotation_mode(self) -> str:
        target = self.owner.pose.bones[self.bone] if self.bone else self.owner
        return target.rotation_mode

    def paths(self) -> tuple[str, str]:
        """(rotation path, location path) on the owner."""
        mode = self.rotation_mode()
        if self.bone:
            prefix = f'pose.bones["{bpy.utils.escape_identifier(self.bone)}"].'
            rotation = "rotation_quaternion" if mode == "QUATERNION" else "rotation_euler"
            return prefix + rotation, prefix + "location"
        rotation = "delta_rotation_quaternion" if mode == "QUATERNION" else "delta_rotation_euler"
        return rotation, "delta_location"

    def basis(self) -> np.ndarray:
        """M mapping character-space axes into the animated channel's space (R' = M R M^T).

        An object's delta rotation applies in its parent's space, before its own rotation,
        so the head's local rotation is conjugated by that rotation; a pose bone's channels
        live in the bone's rest space inside the armature (the character's space).
        """
        if self.bone:
            rest = self.owner.data.bones[self.bone].matrix_local.to_3x3().normalized()
            return np.array(rest.transposed(), dtype=np.float64)
        return np.array(_own_rotation(self.owner), dtype=np.float64)


def _own_rotation(o: bpy.types.Object) -> Matrix:
    """The object's rotation without its delta rotation (which a bake animates)."""
    if o.rotation_mode == "QUATERNION":
        return o.rotation_quaternion.normalized().to_matrix()
    if o.rotation_mode == "AXIS_ANGLE":
        return Matrix.Rotation(o.rotation_axis_angle[0], 3, o.rotation_axis_angle[1:])
    return o.rotation_euler.to_matrix()


@dataclass
class BakeReport:
    frames: int
    start_frame: int
    curves: int
    layers: list[str]
    unmatched: list[str]  # channels with motion that no shape key receives
    stashed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@dataclass
class _Journal:
    """What a bake has done so far, to undo it if a later step fails."""

    actions: list[bpy.types.Action] = field(default_factory=list)
    tracks: list[tuple[bpy.types.AnimData, bpy.types.NlaTrack]] = field(default_factory=list)
    undo: list[Callable[[], None]] = field(default_factory=list)
    commit: list[Callable[[], None]] = field(default_factory=list)

    def rollback(self) -> None:
        for step in reversed(self.undo):
            step()
        for animdata, track in reversed(self.tracks):
            animdata.nla_tracks.remove(track)
        for action in self.actions:
            bpy.data.actions.remove(action)


# ---------------------------------------------------------------------------------------------
# Public entry points


def bake(
    track: Track,
    mesh: bpy.types.Object,
    bindings: Sequence[Binding],
    head: HeadTarget | None = None,
    *,
    on_conflict: str = "ASK",
) -> BakeReport:
    """Bake `track` onto `mesh`'s shape keys (and `head`); see the module docstring.

    on_conflict: what to do when another action, active on the shape keys or the head target,
    animates a channel the bake writes: "ASK" raises BakeConflict naming it, "KEEP" leaves it
    on top (its keys win on those channels), "STASH" moves it into a muted NLA track.
    """
    key = _shape_keys(mesh)
    blend = _blend_bindings(track, key, bindings)
    head_cols = _head_columns(track, bindings) if head is not None else {}
    if not blend and not head_cols:
        raise BakeError(
            f"nothing to bake: no shape key of '{mesh.name}' matches a track channel; "
            "run Auto-map or edit the channel mapping"
        )
    if head is not None and head.rotation_mode() == "AXIS_ANGLE":
        raise BakeError(
            f"head target '{head.describe()}' uses Axis Angle rotation; set it to a Euler "
            "order or Quaternion"
        )
    key_paths = {_key_path(b.shape_key) for _, b in blend}
    head_paths = set(head.paths()) if head_cols else set()
    owners = [(key, key_paths)] + ([(head.owner, head_paths)] if head_cols else [])
    hits = [(owner, text) for owner, paths in owners if (text := _conflict(owner, paths))]
    conflicts = [text for _, text in hits]
    if conflicts and on_conflict == "ASK":
        raise BakeConflict(
            "; ".join(conflicts) + ". Keep it on top (its keys win) or stash it, then bake again"
        )
    journal = _Journal()
    added = restore.remember(mesh, head if head_cols else None)
    journal.undo.append(lambda: restore.forget(mesh, added))
    report = BakeReport(
        frames=track.frames,
        start_frame=track.start_frame,
        curves=0,
        layers=[],
        unmatched=_unmatched(track, blend, head_cols),
    )
    try:
        if conflicts and on_conflict == "STASH":
            report.stashed = [_stash(owner, journal) for owner, _ in hits]
        elif conflicts:
            report.kept = conflicts
        provenance = json.dumps(track.provenance, sort_keys=True)
        report.curves += _bake_shape_keys(track, mesh, blend, provenance, journal, report)
        if head_cols:
            report.curves += _bake_head(track, head, head_cols, provenance, journal, report)
    except BaseException:
        journal.rollback()
        raise
    for step in journal.commit:
        step()
    _move_head(mesh, head if head_cols else None, journal)
    return report


def _move_head(mesh: bpy.types.Object, head: HeadTarget | None, journal: _Journal) -> None:
    """Record where head pose went; a different target than last time first gets the old
    one's strips removed and its pose and action back (the head must not turn twice)."""
    if head is None or not hasattr(mesh, "emospeaker"):  # not registered: bake.py alone
        return
    state = mesh.emospeaker
    if state.head_owner is not None and (state.head_owner, state.head_owner_bone) != (
        head.owner,
        head.bone,
    ):
        restore.release_head(mesh, set(journal.actions))
    state.head_owner, state.head_owner_bone = head.owner, head.bone


def conflicts(
    mesh: bpy.types.Object, bindings: Sequence[Binding], head: HeadTarget | None
) -> list[str]:
    """The conflicts `bake` would ask about, checked before a long generation starts."""
    key = mesh.data.shape_keys if mesh.type == "MESH" else None
    found = []
    if key is not None:
        paths = {_key_path(b.shape_key) for b in bindings if b.shape_key}
        found.append(_conflict(key, paths))
    if head is not None:
        try:
            found.append(_conflict(head.owner, set(head.paths())))
        except KeyError:
            pass
    return [c for c in found if c]


def is_ours(action: bpy.types.Action | None) -> bool:
    return action is not None and MARK in action.keys()


def our_tracks(animdata: bpy.types.AnimData | None) -> list[bpy.types.NlaTrack]:
    """The NLA tracks a bake made (by name, holding only actions it made)."""
    if animdata is None:
        return []
    return [
        t
        for t in animdata.nla_tracks
        if t.name.startswith(TRACK_PREFIX) and all(is_ours(s.action) for s in t.strips)
    ]


def face_tracks(obj: bpy.types.Object | None) -> list[bpy.types.NlaTrack]:
    """Our tracks on `obj`'s shape keys (none when it is not a mesh with shape keys)."""
    key = obj.data.shape_keys if obj is not None and obj.type == "MESH" else None
    return our_tracks(key.animation_data if key else None)


def take_mark(strip: bpy.types.NlaStrip) -> dict:
    """What a bake recorded on a strip's action: layer, start_frame, frames, provenance."""
    return json.loads(strip.action.get(MARK, "{}"))


def layer_of(track: bpy.types.NlaTrack) -> str:
    """The layer of one of our tracks: `EmoSpeaker lips.001` -> `lips`."""
    name = track.name.removeprefix(TRACK_PREFIX)
    stem, dot, number = name.rpartition(".")
    return stem if dot and number.isdigit() else name


def layer_rank(layer: str) -> int:
    """Where `layer`'s tracks stack, bottom first (see STACK); layers not in it go on top."""
    return STACK.index(layer) if layer in STACK else len(STACK)


def baked_range(mesh: bpy.types.Object) -> tuple[int, int] | None:
    """First and last frame covered by the layer strips on `mesh`'s shape keys."""
    strips = [s for t in face_tracks(mesh) if layer_of(t) != BASE for s in t.strips]
    if not strips:
        return None
    return int(min(s.frame_start for s in strips)), int(max(s.frame_end for s in strips))


def take_frames(mesh: bpy.types.Object, start: int) -> int | None:
    """How many frames the take baked on `mesh` from timeline frame `start` has (a Generate
    for a sound strip at `start` makes one); None when no take starts there."""
    for track in face_tracks(mesh):
        if layer_of(track) == BASE:
            continue
        for strip in track.strips:
            mark = take_mark(strip)
            if mark.get("start_frame") == start and round(strip.frame_start) == start:
                return int(mark["frames"])
    return None


def clear(mesh: bpy.types.Object, head: HeadTarget | None = None) -> int:
    """Remove every track and action a bake made on `mesh` (and `head`); returns the count."""
    owners = [mesh.data.shape_keys] if mesh.type == "MESH" and mesh.data.shape_keys else []
    if head is not None:
        owners.append(head.owner)
    removed = 0
    for owner in owners:
        for track in our_tracks(owner.animation_data):
            actions = [s.action for s in track.strips]
            owner.animation_data.nla_tracks.remove(track)
            for action in actions:
                if action.users == 0:
                    bpy.data.actions.remove(action)
            removed += 1
    return removed


# ---------------------------------------------------------------------------------------------
# Shape keys


def _shape_keys(mesh: bpy.types.Object) -> bpy.types.Key:
    if mesh.type != "MESH":
        raise BakeError(f"'{mesh.name}' is a {mesh.type.lower()}, not a mesh with shape keys")
    key = mesh.data.shape_keys
    if key is None or len(key.key_blocks) < 2:
        raise BakeError(
            f"'{mesh.name}' has no shape keys to animate; add the EmoSpeaker head or a rig "
            "with ARKit shape keys"
        )
    return key


def _key_path(name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'


def _blend_bindings(
    track: Track, key: bpy.types.Key, bindings: Sequence[Binding]
) -> list[tuple[int, Binding]]:
    """(track column, binding) for each blendshape binding whose shape key exists."""
    columns = {c: i for i, c in enumerate(track.channels)}
    out, seen = [], {}
    for b in bindings:
        if b.channel in HEAD_CHANNELS or not b.shape_key or b.channel not in columns:
            continue
        if b.shape_key not in key.key_blocks:
            raise BakeError(
                f"the mapping sends {b.channel} to shape key '{b.shape_key}', which "
                f"'{key.user.name}' does not have; fix the row or run Auto-map"
            )
        if key.key_blocks[b.shape_key] == key.reference_key:
            raise BakeError(f"'{b.shape_key}' is the basis shape; map {b.channel} elsewhere")
        if b.shape_key in seen:
            raise BakeError(
                f"shape key '{b.shape_key}' receives both {seen[b.shape_key]} and {b.channel}; "
                "a shape key can take one channel"
            )
        seen[b.shape_key] = b.channel
        out.append((columns[b.channel], b))
    return out


def _bake_shape_keys(
    track: Track,
    mesh: bpy.types.Object,
    blend: list[tuple[int, Binding]],
    provenance: str,
    journal: _Journal,
    report: BakeReport,
) -> int:
    if not blend:
        return 0
    key = mesh.data.shape_keys
    animdata = key.animation_data or key.animation_data_create()
    start, frames = track.start_frame, track.frames
    curves = _rebuild_base(animdata, mesh, blend, start, provenance, journal)
    for layer, values in _ordered_layers(track):
        active = [(col, b) for col, b in blend if np.any(values[:, col] != 0)]
        if not active:
            continue
        name = f"EmoSpeaker {layer} {mesh.name} @{start}"
        action, slot = _new_action(name, "KEY", layer, start, frames, provenance, journal)
        for col, b in active:
            fc = compat.new_fcurve(action, slot, _key_path(b.shape_key), 0, KEY_GROUP)
            _write_keys(fc, start, values[:, col] * np.float32(b.gain))
            curves += 1
        _place(animdata, layer, name, start, action, slot, "ADD", journal)
        report.layers.append(layer)
    return curves


def _rebuild_base(
    animdata: bpy.types.AnimData,
    mesh: bpy.types.Object,
    blend: list[tuple[int, Binding]],
    start: int,
    provenance: str,
    journal: _Journal,
) -> int:
    """Hold every channel any take animates at its offset (see the module docstring)."""
    offsets = {_key_path(b.shape_key): b.offset for _, b in blend}
    old_track = next((t for t in our_tracks(animdata) if layer_of(t) == BASE), None)
    for track in our_tracks(animdata):
        if track is old_track:
            continue
        for strip in track.strips:
            for fc in compat.action_fcurves(strip.action, _strip_slot(strip)):
                offsets.setdefault(fc.data_path, 0.0)
    name = f"EmoSpeaker base {mesh.name}"
    action, slot = _new_action(name, "KEY", BASE, start, 1, provenance, journal)
    for path, offset in sorted(offsets.items()):
        fc = compat.new_fcurve(action, slot, path, 0, KEY_GROUP)
        _write_keys(fc, start, np.array([offset], dtype=np.float32))
    if old_track is None:
        track = _new_base_track(animdata)
        journal.tracks.append((animdata, track))
    else:
        track = old_track
        old = [(s.name, int(s.frame_start), s.action, _strip_slot(s)) for s in track.strips]
        for strip in list(track.strips):
            track.strips.remove(strip)

        def restore(track=track, old=old) -> None:
            for strip in list(track.strips):
                track.strips.remove(strip)
            for name_, start_, action_, slot_ in old:
                _base_strip(compat.new_strip(track, name_, start_, action_, slot_))

        def forget(old=old) -> None:
            for _, _, action_, _ in old:
                if action_.users == 0:
                    bpy.data.actions.remove(action_)

        journal.undo.append(restore)
        journal.commit.append(forget)
    _base_strip(compat.new_strip(track, name, start, action, slot))
    return len(offsets)


def _base_strip(strip: bpy.types.NlaStrip) -> None:
    strip.blend_type = "REPLACE"
    strip.extrapolation = "HOLD"


def _new_base_track(animdata: bpy.types.AnimData) -> bpy.types.NlaTrack:
    """A base track under our layer tracks (the API inserts only above a given track)."""
    tracks = list(animdata.nla_tracks)
    ours = [t for t in our_tracks(animdata) if layer_of(t) != BASE]
    if not ours:
        track = animdata.nla_tracks.new(prev=None)  # on top of the user's own tracks
    else:
        lowest = min(ours, key=tracks.index)
        if tracks.index(lowest) == 0:
            raise BakeError(
                "the 'EmoSpeaker base' track was deleted; press Clear Bake (or delete the "
                "EmoSpeaker tracks) and bake again"
            )
        track = animdata.nla_tracks.new(prev=tracks[tracks.index(lowest) - 1])
    track.name = TRACK_PREFIX + BASE
    return track


# ---------------------------------------------------------------------------------------------
# Head pose


def _head_columns(track: Track, bindings: Sequence[Binding]) -> dict[str, tuple[int, float]]:
    """{head channel: (track column, gain)} for the head channels the mapping enables."""
    gains = {b.channel: b.gain for b in bindings if b.channel in HEAD_CHANNELS}
    return {c: (track.channels.index(c), gains[c]) for c in gains if c in track.channels}


def head_rotations(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """[F, 3, 3] rotations in the character's space (Blender axes, facing -Y, Z up):
    R = Rz(yaw) Rx(pitch) Ry(roll): pitch > 0 looks down, yaw > 0 turns to the character's
    left, roll > 0 tilts the top of the head to the character's left."""
    cp, sp = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cr, sr = np.cos(roll), np.sin(roll)
    n = len(pitch)
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0] = 1
    rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = cp, -sp, sp, cp
    rz = np.zeros((n, 3, 3))
    rz[:, 2, 2] = 1
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1] = cy, -sy, sy, cy
    ry = np.zeros((n, 3, 3))
    ry[:, 1, 1] = 1
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 2, 0], ry[:, 2, 2] = cr, sr, -sr, cr
    return rz @ rx @ ry


def head_translation(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """[F, 3] in the character's space from ARKit-style head offsets (x: the face's left,
    y: up, z: out of the face)."""
    return np.stack([x, -z, y], axis=1)


def _bake_head(
    track: Track,
    head: HeadTarget,
    cols: dict[str, tuple[int, float]],
    provenance: str,
    journal: _Journal,
    report: BakeReport,
) -> int:
    owner = head.owner
    animdata = owner.animation_data or owner.animation_data_create()
    rot_path, loc_path = head.paths()
    mode = head.rotation_mode()
    basis = head.basis()
    start, frames = track.start_frame, track.frames
    curves = 0

    def column(values: np.ndarray, name: str) -> np.ndarray:
        if name not in cols:
            return np.zeros(frames)
        col, gain = cols[name]
        return values[:, col].astype(np.float64) * gain

    layers = []
    for layer, values in _ordered_layers(track):
        angles = np.stack([column(values, c) for c in HEAD_ROTATION], axis=1)
        offsets = np.stack([column(values, c) for c in HEAD_TRANSLATION], axis=1)
        if angles.any() or offsets.any():
            layers.append((layer, angles, offsets))
    steps = _rotation_steps([a for _, a, _ in layers], basis, mode)
    shifts = _pivot_shifts([a for _, a, _ in layers], basis, head.pivot_offset())
    for (layer, _, offsets), rotation, shift in zip(layers, steps, shifts, strict=True):
        name = f"EmoSpeaker {layer} pose {head.describe()} @{start}"
        action, slot = _new_action(name, "OBJECT", layer, start, frames, provenance, journal)
        group = head.bone or "Object Transforms"
        if rotation is not None:
            for i in range(rotation.shape[1]):
                fc = compat.new_fcurve(action, slot, rot_path, i, group)
                _write_keys(fc, start, rotation[:, i].astype(np.float32))
                curves += 1
        if offsets.any() or shift is not None:
            loc = head_translation(*offsets.T) @ basis.T
            if shift is not None:
                loc = loc + shift
            for i in range(3):
                fc = compat.new_fcurve(action, slot, loc_path, i, group)
                _write_keys(fc, start, loc[:, i].astype(np.float32))
                curves += 1
        _place(animdata, layer, name, start, action, slot, "COMBINE", journal)
        if layer not in report.layers:
            report.layers.append(layer)
    return curves


def _rotation_steps(
    angles: list[np.ndarray], basis: np.ndarray, mode: str
) -> list[np.ndarray | None]:
    """Per-layer rotation channels whose NLA combination is exactly the rotation of the summed
    angles, as the backend combines layers (sum, then rotate).

    Layer k holds the step from the rotation of the first k-1 layers' sum to that of the
    first k; COMBINE multiplies quaternions (lower @ upper) and adds Euler angles, so the steps
    telescope to the whole. Muting a layer drops about its own share. None: no rotation.
    """
    out: list[np.ndarray | None] = []
    total = np.zeros_like(angles[0]) if angles else None
    previous = None  # the partial sum's rotation channels so far
    for a in angles:
        if not a.any():
            out.append(None)
            continue
        total = total + a
        m = basis @ head_rotations(*total.T) @ basis.T
        if mode == "QUATERNION":
            current = _quaternions(m)
            step = current if previous is None else _qmul(_qconj(previous), current)
            step = step * np.where(step[:, :1] < 0, -1.0, 1.0)  # small turns: w > 0
        else:
            current = _eulers(m, mode)
            step = current if previous is None else current - previous
            step = (step + np.pi) % (2 * np.pi) - np.pi  # same rotation, no 2-pi jumps
        out.append(step)
        previous = current
    return out


def _pivot_shifts(
    angles: list[np.ndarray], basis: np.ndarray, pivot: np.ndarray | None
) -> list[np.ndarray | None]:
    """Per-layer delta-location that keeps `pivot` (R S p, parent space) in place while the
    object turns about its origin: a point x goes to L + D R S x, so turning by D about the
    pivot needs the shift (I - D) R S p. Layer k holds (D_{k-1} - D_k) R S p, which adds up
    over the COMBINE strips to (I - D) R S p for the summed rotation, as `_rotation_steps`
    telescopes the rotations. None: nothing to shift in that layer."""
    if pivot is None:
        return [None] * len(angles)
    out: list[np.ndarray | None] = []
    total = np.zeros_like(angles[0]) if angles else None
    previous = None
    for a in angles:
        if not a.any():
            out.append(None)
            continue
        total = total + a
        current = basis @ head_rotations(*total.T) @ basis.T
        before = np.eye(3) if previous is None else previous
        out.append((before - current) @ pivot)
        previous = current
    return out


def _qconj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamilton product a @ b of [F, 4] quaternions (w, x, y, z)."""
    aw, ax, ay, az = a.T
    bw, bx, by, bz = b.T
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=1,
    )


def _quaternions(m: np.ndarray) -> np.ndarray:
    """[F, 3, 3] rotations -> [F, 4] unit quaternions (w, x, y, z), sign-continuous."""
    w = np.sqrt(np.maximum(0.0, 1.0 + m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2])) / 2
    x = np.copysign(
        np.sqrt(np.maximum(0.0, 1.0 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2])) / 2,
        m[:, 2, 1] - m[:, 1, 2],
    )
    y = np.copysign(
        np.sqrt(np.maximum(0.0, 1.0 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2])) / 2,
        m[:, 0, 2] - m[:, 2, 0],
    )
    z = np.copysign(
        np.sqrt(np.maximum(0.0, 1.0 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2])) / 2,
        m[:, 1, 0] - m[:, 0, 1],
    )
    out = np.stack([w, x, y, z], axis=1)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    flips = np.cumsum(np.einsum("ij,ij->i", out[1:], out[:-1]) < 0) % 2
    out[1:][flips == 1] *= -1
    return out


def _eulers(m: np.ndarray, order: str) -> np.ndarray:
    """[F, 3, 3] rotations -> [F, 3] Euler angles (x, y, z) in Blender's `order` (the first
    letter applies first), without 2-pi jumps.

    Permuting the axes turns any order into XYZ; an odd permutation is a mirror, which negates
    the angles (Shoemake's method, as Blender's own matrix-to-Euler does).
    """
    axes = ["XYZ".index(c) for c in order]
    p = np.zeros((3, 3))
    p[[0, 1, 2], axes] = 1.0
    r = p @ m @ p.T
    cy = np.hypot(r[:, 0, 0], r[:, 1, 0])
    first = np.arctan2(r[:, 2, 1], r[:, 2, 2])
    second = np.arctan2(-r[:, 2, 0], cy)
    third = np.arctan2(r[:, 1, 0], r[:, 0, 0])
    angles = np.stack([first, second, third], axis=1)
    if order not in ("XYZ", "YZX", "ZXY"):  # odd permutation: a mirror, angles reverse
        angles = -angles
    out = np.empty_like(angles)
    out[:, axes] = angles
    return np.unwrap(out, axis=0)


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _ordered_layers(track: Track) -> list[tuple[str, np.ndarray]]:
    """The track's layers, the engine's four first in stacking order."""
    names = [n for n in LAYERS if n in track.layers] + [n for n in track.layers if n not in LAYERS]
    return [(n, track.layers[n]) for n in names]


def _new_action(
    name: str,
    id_type: str,
    layer: str,
    start: int,
    frames: int,
    provenance: str,
    journal: _Journal,
) -> tuple[bpy.types.Action, object | None]:
    action, slot = compat.new_action(name, id_type)
    journal.actions.append(action)
    action[MARK] = json.dumps(
        {"layer": layer, "start_frame": start, "frames": frames, "provenance": provenance}
    )
    return action, slot


def _write_keys(fc: bpy.types.FCurve, start: int, values: np.ndarray) -> None:
    """One key per frame from `start`, in bulk."""
    co = np.empty((len(values), 2), dtype=np.float32)
    co[:, 0] = np.arange(start, start + len(values), dtype=np.float32)
    co[:, 1] = values
    fc.keyframe_points.add(len(values))
    fc.keyframe_points.foreach_set("co", co.ravel())
    fc.update()


def _strip_slot(strip: bpy.types.NlaStrip) -> object | None:
    return getattr(strip, "action_slot", None)


def _place(
    animdata: bpy.types.AnimData,
    layer: str,
    name: str,
    start: int,
    action: bpy.types.Action,
    slot: object | None,
    blend_type: str,
    journal: _Journal,
) -> None:
    """Put a new strip for `layer` on a free track of that layer (a new one above if none is
    free); strips of earlier takes that overlap the new one are removed on commit."""
    end = start + max(1, int(round(action.frame_range[1] - action.frame_range[0])))
    tracks = [t for t in our_tracks(animdata) if layer_of(t) == layer]
    replaced = [
        (t, s) for t in tracks for s in t.strips if s.frame_start < end and s.frame_end > start
    ]
    free = [t for t in tracks if not any(_touches(s, start, end) for s in t.strips)]
    if free:
        track = free[0]
    else:
        order = list(animdata.nla_tracks)
        prev = max(tracks, key=order.index) if tracks else _highest_below(animdata, layer)
        track = animdata.nla_tracks.new(prev=prev)
        track.name = TRACK_PREFIX + layer
        journal.tracks.append((animdata, track))
    strip = compat.new_strip(track, name, start, action, slot)
    strip.blend_type = blend_type
    strip.extrapolation = "NOTHING"
    _free_influence(strip)
    if replaced:
        journal.commit.append(lambda: _remove_takes(animdata, replaced, layer))


def _touches(strip: bpy.types.NlaStrip, start: int, end: int) -> bool:
    return strip.frame_start <= end and strip.frame_end >= start


def _free_influence(strip: bpy.types.NlaStrip) -> None:
    """Let the strip's Influence slider scale the layer: enabling it keys the value once;
    removing that key leaves a plain slider the animator may still key."""
    strip.use_animated_influence = True
    strip.influence = 1.0
    for fc in strip.fcurves:
        if fc.data_path == "influence":
            while fc.keyframe_points:
                fc.keyframe_points.remove(fc.keyframe_points[0])


def _remove_takes(
    animdata: bpy.types.AnimData,
    replaced: list[tuple[bpy.types.NlaTrack, bpy.types.NlaStrip]],
    layer: str,
) -> None:
    actions = [s.action for _, s in replaced]
    for track, strip in replaced:
        track.strips.remove(strip)
    for action in actions:
        if action.users == 0:
            bpy.data.actions.remove(action)
    for track in [t for t in our_tracks(animdata) if layer_of(t) == layer]:
        if not track.strips:
            animdata.nla_tracks.remove(track)
    remaining = [t for t in our_tracks(animdata) if layer_of(t) == layer]
    if len(remaining) == 1:
        remaining[0].name = TRACK_PREFIX + layer


def _highest_below(animdata: bpy.types.AnimData, layer: str) -> bpy.types.NlaTrack | None:
    """Our highest track of a layer stacked below `layer` (base first), to insert above."""
    rank = layer_rank(layer)
    below = [t for t in our_tracks(animdata) if layer_rank(layer_of(t)) < rank]
    tracks = list(animdata.nla_tracks)
    return max(below, key=tracks.index) if below else None


def _conflict(owner: bpy.types.ID, paths: set[str]) -> str:
    """A sentence naming a foreign active action on `owner` that drives any of `paths`."""
    animdata = owner.animation_data
    if animdata is None or animdata.action is None or is_ours(animdata.action):
        return ""
    hits = sorted({fc.data_path for fc in compat.active_fcurves(animdata)} & paths)
    if not hits:
        return ""
    shown = ", ".join(hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")
    where = (
        f"the shape keys of '{owner.user.name}'"
        if isinstance(owner, bpy.types.Key)
        else (f"'{owner.name}'")
    )
    return (
        f"action '{animdata.action.name}' (not made by EmoSpeaker) is active on {where} and "
        f"animates {shown}"
    )


def _stash(owner: bpy.types.ID, journal: _Journal) -> str:
    """Move the active action into a muted NLA track, as Blender's Stash does."""
    animdata = owner.animation_data
    action = animdata.action
    slot = getattr(animdata, "action_slot", None)
    track = animdata.nla_tracks.new(prev=None)
    track.name = STASH_TRACK
    journal.tracks.append((animdata, track))
    compat.new_strip(track, action.name, int(action.frame_range[0]), action, slot)
    track.mute = True
    animdata.action = None

    def restore() -> None:
        animdata.action = action
        if slot is not None:
            animdata.action_slot = slot

    journal.undo.append(restore)
    return action.name


def _unmatched(
    track: Track, blend: list[tuple[int, Binding]], head_cols: dict[str, tuple[int, float]]
) -> list[str]:
    used = {b.channel for _, b in blend} | set(head_cols)
    values = np.abs(np.sum([np.abs(v) for v in track.layers.values()], axis=0))
    moving = [c for i, c in enumerate(track.channels) if values[:, i].any()]
    return [c for c in moving if c not in used and (c in ARKIT_BLENDSHAPES or c in HEAD_CHANNELS)]
