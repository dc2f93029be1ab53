"""Operators: key emotions, map channels, generate and bake, render the shot, the demo head,
exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import bake, emotion, exporting, mapping, poses, prefs, restore, shots, tasks
from . import track as tracks
from .arkit import EMOTIONS, MAX_INTENSITY
from .inputs import InputProblem, gather, scene_fps
from .properties import EMOTION_ITEMS

HEAD_FILE = Path(__file__).parent / "head.glb"
CONFLICT_ITEMS = (
    ("ASK", "Ask", "Stop and say which action is in the way"),
    ("KEEP", "Keep It On Top", "Leave the other action active; its keys win on those channels"),
    ("STASH", "Stash It", "Move it into a muted NLA track (nothing is deleted)"),
)


def _target(context: bpy.types.Context) -> bpy.types.Object | None:
    return context.scene.emospeaker.target


def _idle(cls: type) -> bool:
    """No EmoSpeaker call is running (they run one at a time); else say so."""
    if tasks.RUNNING:
        cls.poll_message_set("An EmoSpeaker call is running (Esc cancels it)")
        return False
    return True


class _OnFace:
    """For operators that work on the face: available once one is chosen."""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if _target(context) is None:
            cls.poll_message_set("Choose the face object (or press Add EmoSpeaker Head)")
            return False
        return True


class EMOSPEAKER_OT_key_emotion(_OnFace, bpy.types.Operator):
    """Key the chosen emotion at the current frame (all eight intensities, so curves agree)"""

    bl_idname = "emospeaker.key_emotion"
    bl_label = "Key Emotion"
    bl_options = {"REGISTER", "UNDO"}

    emotion: EnumProperty(items=EMOTION_ITEMS, default="happy")
    intensity: bpy.props.FloatProperty(default=1.0, min=0.0, max=MAX_INTENSITY, soft_max=1.0)
    exclusive: BoolProperty(default=True, description="Set the other seven to 0")
    frame: IntProperty(default=-(2**31), options={"SKIP_SAVE"}, description="Default: current")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        settings = context.scene.emospeaker
        self.emotion, self.intensity = settings.key_emotion, settings.key_intensity
        self.exclusive = settings.key_exclusive
        return self.execute(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        frame = context.scene.frame_current if self.frame == -(2**31) else self.frame
        values = dict(zip(EMOTIONS, emotion.current(obj), strict=True))
        for name in EMOTIONS:
            if name == self.emotion:
                values[name] = self.intensity
            elif self.exclusive:
                values[name] = 0.0
        carrier = emotion.key(obj, values, frame)
        self.report(
            {"INFO"},
            f"keyed {self.emotion} {self.intensity:g} at frame {frame} on '{carrier.name}'",
        )
        return {"FINISHED"}


class EMOSPEAKER_OT_auto_map(_OnFace, bpy.types.Operator):
    """Fill the channel mapping by matching shape key names (camelCase, PascalCase, _L/_R,
    Left/Right, snake_case); gains and offsets are reset"""

    bl_idname = "emospeaker.auto_map"
    bl_label = "Auto-map Channels"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        items = mapping.automatic(obj)
        mapping.store(obj, items)
        found = sum(1 for b in items if b.shape_key)
        self.report({"INFO"}, f"mapped {found} of 52 ARKit channels to shape keys of '{obj.name}'")
        return {"FINISHED"}


class _Baking(_OnFace):
    """Shared by Generate and Bake File: resolve target, mapping, head; bake; report."""

    on_conflict: EnumProperty(name="Other Action", items=CONFLICT_ITEMS, options={"SKIP_SAVE"})
    _found: tuple[str, ...] = ()

    def _resolve(self, context: bpy.types.Context) -> tuple[Any, list, Any]:
        obj = _target(context)
        if obj is None:
            raise InputProblem("choose the face object (or press Add EmoSpeaker Head)")
        bake._shape_keys(obj)  # raises a clear error without shape keys
        return obj, mapping.bindings(obj), mapping.head_target(context.scene.emospeaker, obj)

    def _ask_first(self, context: bpy.types.Context) -> set[str] | None:
        """When another action would hide the bake, open a dialog before starting."""
        if self.on_conflict != "ASK":
            return None
        try:
            obj, binds, head = self._resolve(context)
        except (InputProblem, mapping.MappingProblem, bake.BakeError):
            return None  # execute reports it
        self._found = bake.conflicts(obj, binds, head)
        if not self._found:
            return None
        self.on_conflict = "STASH"
        return context.window_manager.invoke_props_dialog(self, width=520)

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column()
        for line in self._found:
            col.label(text=line, icon="ERROR")
        col.label(
            text="What should happen to it?" if self._found else "If another action is in the way:"
        )
        col.prop(self, "on_conflict", expand=True)

    def _bake(self, context: bpy.types.Context, track: tracks.Track) -> set[str]:
        try:
            obj, binds, head = self._resolve(context)
            report = bake.bake(track, obj, binds, head, on_conflict=self.on_conflict)
        except (InputProblem, mapping.MappingProblem, bake.BakeError) as exc:
            self.report({"ERROR"}, f"nothing was baked: {exc}")
            return {"CANCELLED"}
        if not len(obj.emospeaker.mapping):
            mapping.store(obj, binds)  # so the animator can see and edit what was used
        context.scene.frame_set(context.scene.frame_current)
        text = (
            f"baked {report.frames} frames from {report.start_frame} onto '{obj.name}' "
            f"({', '.join(report.layers)}; {report.curves} curves)"
        )
        if report.stashed:
            text += f"; stashed {', '.join(report.stashed)}"
        warnings = list(track.provenance.get("warnings", []))
        text += "".join(f"; {w}" for w in warnings)
        if report.unmatched:
            text += f"; no shape key for {', '.join(report.unmatched[:6])}"
            text += "..." if len(report.unmatched) > 6 else ""
        worry = report.unmatched or report.kept or warnings
        self.report({"WARNING"} if worry else {"INFO"}, text)
        return {"FINISHED"}


class EMOSPEAKER_OT_generate(_Baking, tasks.TaskOperator, bpy.types.Operator):
    """Send the audio, transcript and emotion curves to the backend and bake the result onto the
    face's shape keys (runs in the background; Esc cancels)"""

    bl_idname = "emospeaker.generate"
    bl_label = "Generate"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _idle(cls) and super().poll(context)

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return self._ask_first(context) or self.execute(context)

    def begin(self, context: bpy.types.Context) -> tasks.Task | None:
        try:
            obj, binds, head = self._resolve(context)
            request = gather(context)
        except (InputProblem, mapping.MappingProblem, bake.BakeError) as exc:
            self.report({"ERROR"}, str(exc))
            return None
        if self.on_conflict == "ASK":
            found = bake.conflicts(obj, binds, head)
            if found:
                self.report({"ERROR"}, "; ".join(found) + ": keep it on top or stash it")
                return None
        for note in request.notes:
            self.report({"WARNING"}, note)
        connection = prefs.connection(context)
        return tasks.Task("Generate", lambda task: _animate(connection, request, task))

    def finish(self, context: bpy.types.Context, result: Any) -> set[str]:
        return self._bake(context, tracks.Track.from_wire(result))


def _animate(connection: Any, request: Any, task: tasks.Task) -> Any:
    """Worker thread: one Animate call, streamed into the client's plain track."""
    with connection.client() as client:
        call = request.animate_request()
        task.progress("sending", 0.0)
        stream = client.animate(call, cancel_event=task.cancel_event)
        result = stream.track(on_progress=task.progress)
    task.progress("baking", 1.0)
    return result


class EMOSPEAKER_OT_render_shot(tasks.TaskOperator, bpy.types.Operator):
    """Render the shot (the dialogue strip and the face's animation over it) on the backend,
    from the portrait photo or as the built-in head, and place the video in the Sequencer above
    the sound strip (runs in the background; Esc cancels)"""

    bl_idname = "emospeaker.render_shot"
    bl_label = "Render Shot"
    bl_options = {"REGISTER", "UNDO"}

    _shot: shots.Shot | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return _idle(cls)

    def begin(self, context: bpy.types.Context) -> tasks.Task | None:
        try:
            shot = shots.gather(context)
        except (InputProblem, mapping.MappingProblem, bake.BakeError) as exc:
            self.report({"ERROR"}, str(exc))
            return None
        for note in shot.notes:
            self.report({"WARNING"}, note)
        self._shot = shot
        connection = prefs.connection(context)
        return tasks.Task("Render Shot", lambda task: shots.render(connection, shot, task))

    def finish(self, context: bpy.types.Context, result: Any) -> set[str]:
        shot = self._shot
        try:
            strip, notes = shots.place(context.scene, shot, result.frames)
        except (shots.PlacementError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"the video could not be placed: {exc}")
            return {"CANCELLED"}
        self.report(
            {"INFO"},
            f"rendered {result.frames} frames of {shot.motion} ({shot.renderer}) to "
            f"{shot.output}; placed on channel {strip.channel} from frame "
            f"{int(strip.frame_start)}",
        )
        for note in notes:
            self.report({"WARNING"}, note)
        return {"FINISHED"}

    def describe_error(self, error: BaseException) -> str:
        """Name the portrait file when the backend found fault with it."""
        if getattr(error, "field", None) in ("portrait", "face_index") and self._shot:
            details = error.details.removeprefix("portrait: ")
            return f"portrait '{self._shot.portrait_name}': {details} [{error.code}]"
        return str(error)

    def release(self, task: tasks.Task) -> None:
        if self._shot is not None:
            shots.discard(self._shot)


class EMOSPEAKER_OT_bake_file(_Baking, bpy.types.Operator, ImportHelper):
    """Bake a FaceTrack JSON file (from `emospeaker animate -o x.json`) onto the face"""

    bl_idname = "emospeaker.bake_file"
    bl_label = "Bake FaceTrack File"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        return ImportHelper.invoke(self, context, event)

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            track = tracks.from_json(Path(self.filepath).read_text(), self.filepath)
        except (OSError, ValueError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if track.fps != scene_fps(context.scene):
            self.report(
                {"WARNING"},
                f"the track is {float(track.fps):.3f} fps and the scene "
                f"{float(scene_fps(context.scene)):.3f} fps: it is keyed one frame per frame",
            )
        return self._bake(context, track)


class EMOSPEAKER_OT_clear_bake(_OnFace, bpy.types.Operator):
    """Remove every NLA track and action EmoSpeaker baked on the face and head targets, and
    put back what was there before the first bake: shape-key values, head pose, the actions
    that were active (Ctrl Z brings the bake back)"""

    bl_idname = "emospeaker.clear_bake"
    bl_label = "Clear Bake"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        try:
            head = mapping.head_target(context.scene.emospeaker, obj)
        except mapping.MappingProblem:
            head = None
        removed = restore.restore(obj, [head] if head is not None else [])
        context.scene.frame_set(context.scene.frame_current)
        self.report(
            {"INFO"}, f"removed {removed} EmoSpeaker tracks; the face is back as it was before"
        )
        return {"FINISHED"}


class EMOSPEAKER_OT_add_head(bpy.types.Operator):
    """Add the EmoSpeaker demo head (all 52 ARKit shape keys) and make it the face"""

    bl_idname = "emospeaker.add_head"
    bl_label = "Add EmoSpeaker Head"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not HEAD_FILE.is_file():
            self.report({"ERROR"}, f"this build of the add-on has no head model ({HEAD_FILE})")
            return {"CANCELLED"}
        before = set(bpy.data.objects)
        bpy.ops.import_scene.gltf(filepath=str(HEAD_FILE))
        new = [o for o in bpy.data.objects if o not in before]
        faces = [o for o in new if o.type == "MESH" and o.data.shape_keys]
        if not faces:
            self.report({"ERROR"}, "the head model has no mesh with shape keys")
            return {"CANCELLED"}
        face = max(faces, key=lambda o: len(o.data.shape_keys.key_blocks))
        root = face
        while root.parent is not None:  # the neck pivot the head turns about
            root = root.parent
        root.location += context.scene.cursor.location
        # Euler YXZ is the FaceTrack's own order: delta X/Y/Z read as pitch/roll/yaw, and
        # layers add exactly (Blender combines quaternion layers in float32: tiny turns drift)
        root.rotation_mode = "YXZ"
        for neck in (o for o in new if o.parent is None and o is not root):
            _follow(neck, root)  # e.g. the neck: half the head's turn, all of its shift
        settings = context.scene.emospeaker
        settings.target = face
        settings.head_mode = "OBJECT"
        settings.head_object = root if root is not face else None
        mapping.store(face, mapping.automatic(face))
        context.view_layer.objects.active = face
        self.report(
            {"INFO"},
            f"added '{face.name}' with {len(face.data.shape_keys.key_blocks) - 1} shape keys",
        )
        return {"FINISHED"}


def _follow(obj: bpy.types.Object, head: bpy.types.Object, share: float = 0.5) -> None:
    """Make `obj` move with `head` and turn by `share` of its rotation (constraints, so it
    follows whatever animates the head)."""
    turn = obj.constraints.new("COPY_ROTATION")
    turn.name, turn.target, turn.influence = "EmoSpeaker follow head", head, share
    shift = obj.constraints.new("COPY_LOCATION")
    shift.name, shift.target = "EmoSpeaker follow head", head
    shift.use_offset = False


class EMOSPEAKER_OT_export_track(_OnFace, bpy.types.Operator, ExportHelper):
    """Export the face's baked animation as Live Link Face CSV or EmoSpeaker JSON"""

    bl_idname = "emospeaker.export_track"
    bl_label = "Export Face Animation"
    filename_ext = ".csv"
    filter_glob: StringProperty(default="*.csv;*.json", options={"HIDDEN"})
    file_format: EnumProperty(
        name="Format",
        items=(
            ("CSV", "Live Link Face CSV", "Unreal Live Link Face recording layout"),
            ("JSON", "EmoSpeaker JSON", "FaceTrack JSON, readable by `emospeaker` tools"),
        ),
        default="CSV",
    )
    frame_start: IntProperty(default=0, options={"SKIP_SAVE"})
    frame_end: IntProperty(default=-1, options={"SKIP_SAVE"}, description="Default: the bake")

    def check(self, context: bpy.types.Context) -> bool:
        self.filename_ext = ".json" if self.file_format == "JSON" else ".csv"
        return ExportHelper.check(self, context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        scene = context.scene
        suffix = ".json" if self.file_format == "JSON" else ".csv"
        path = bpy.path.ensure_ext(self.filepath, suffix)
        frames = _frames(self, scene, obj)
        try:
            head = mapping.head_target(scene.emospeaker, obj)
            track = exporting.evaluate(scene, obj, mapping.bindings(obj), head, frames)
            tracks.save(track, path)
        except (OSError, ValueError, mapping.MappingProblem) as exc:
            self.report({"ERROR"}, f"export failed, nothing written: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {track.frames} frames to {path}")
        return {"FINISHED"}


class EMOSPEAKER_OT_export_gltf(_OnFace, bpy.types.Operator, ExportHelper):
    """Export the face (and head rig) as glTF with the baked shape-key animation"""

    bl_idname = "emospeaker.export_gltf"
    bl_label = "Export glTF"
    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb;*.gltf", options={"HIDDEN"})
    frame_start: IntProperty(default=0, options={"SKIP_SAVE"})
    frame_end: IntProperty(default=-1, options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        settings = context.scene.emospeaker
        head = settings.head_object if settings.head_mode != "NONE" else None
        objects = _with_followers([obj] + ([head] if head else []), context.scene)
        path = self.filepath
        if not path.lower().endswith((".glb", ".gltf")):
            path += ".glb"
        try:
            exporting.export_gltf(context, path, objects, _frames(self, context.scene, obj))
        except (RuntimeError, OSError) as exc:
            self.report({"ERROR"}, f"glTF export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


def _with_followers(objects: list, scene: bpy.types.Scene) -> list:
    """`objects`, what follows them by constraint (the demo head's neck) and all children."""
    chosen = list(objects)
    for o in scene.objects:
        if o not in chosen and any(getattr(c, "target", None) in chosen for c in o.constraints):
            chosen.append(o)
    for o in scene.objects:
        parent = o.parent
        while parent is not None and parent not in chosen:
            parent = parent.parent
        if parent is not None and o not in chosen and not emotion.is_carrier(o):
            chosen.append(o)
    return chosen


def _frames(op: Any, scene: bpy.types.Scene, obj: bpy.types.Object) -> tuple[int, int]:
    if op.frame_end >= op.frame_start:
        return op.frame_start, op.frame_end
    return exporting.frame_range(scene, obj)


class _OnEmotionPose(_OnFace):
    """For the pose operators: they act on the emotion chosen in the panel."""

    bl_options = {"REGISTER", "UNDO"}

    emotion: EnumProperty(items=EMOTION_ITEMS, default="happy", options={"SKIP_SAVE"})

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.emotion = context.scene.emospeaker.key_emotion
        return self.execute(context)


class EMOSPEAKER_OT_store_pose(_OnEmotionPose, bpy.types.Operator):
    """Store the face's current shape-key pose as this character's own pose for the chosen
    emotion at intensity 1 (Generate then uses it instead of the built-in one)"""

    bl_idname = "emospeaker.store_pose"
    bl_label = "Store Pose"

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = _target(context)
        try:
            weights = poses.capture(obj)
        except poses.PoseProblem as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not weights:
            self.report(
                {"ERROR"}, "every mapped shape key is at rest: sculpt the emotion with them first"
            )
            return {"CANCELLED"}
        poses.store(obj, self.emotion, weights)
        self.report(
            {"INFO"}, f"stored {len(weights)} channels as '{obj.name}''s {self.emotion} pose"
        )
        return {"FINISHED"}


class EMOSPEAKER_OT_remove_pose(_OnEmotionPose, bpy.types.Operator):
    """Forget this character's own pose for the chosen emotion (the built-in one is used
    again)"""

    bl_idname = "emospeaker.remove_pose"
    bl_label = "Remove Pose"

    def execute(self, context: bpy.types.Context) -> set[str]:
        if not poses.remove(_target(context), self.emotion):
            self.report({"WARNING"}, f"no {self.emotion} pose was stored")
            return {"CANCELLED"}
        self.report({"INFO"}, f"removed the {self.emotion} pose")
        return {"FINISHED"}


class EMOSPEAKER_OT_export_poses(_OnFace, bpy.types.Operator, ExportHelper):
    """Save this character's emotion poses and gains as JSON, to reuse on another shot or
    with `emospeaker animate --emotion-poses`"""

    bl_idname = "emospeaker.export_poses"
    bl_label = "Export Poses"
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        path = bpy.path.ensure_ext(self.filepath, ".json")
        text = poses.to_json(_target(context))
        try:
            tracks.write_atomically(Path(path), lambda handle: handle.write(text))
        except OSError as exc:
            self.report({"ERROR"}, f"cannot write {path}: {exc.strerror or exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


class EMOSPEAKER_OT_import_poses(_OnFace, bpy.types.Operator, ImportHelper):
    """Load emotion poses and gains from JSON (replacing this character's)"""

    bl_idname = "emospeaker.import_poses"
    bl_label = "Import Poses"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            text = Path(self.filepath).read_text(encoding="utf-8")
            count = poses.from_json(_target(context), text, Path(self.filepath).name)
        except (OSError, poses.PoseProblem) as exc:
            self.report({"ERROR"}, f"nothing imported: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"imported {count} emotion poses and the gains")
        return {"FINISHED"}


class EMOSPEAKER_OT_select_emotion_keys(_OnFace, bpy.types.Operator):
    """Select the object holding the face's emotion keys, to edit them in the Graph Editor or
    Dope Sheet"""

    bl_idname = "emospeaker.select_emotion_keys"
    bl_label = "Edit Emotion Curves"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        carrier = emotion.holder(_target(context))
        if carrier is None:
            self.report({"WARNING"}, "no emotion keys yet: press Key Emotion first")
            return {"CANCELLED"}
        carrier.hide_set(False)
        carrier.select_set(True)
        context.view_layer.objects.active = carrier
        return {"FINISHED"}


class EMOSPEAKER_OT_cancel(bpy.types.Operator):
    """Cancel the running EmoSpeaker call (same as Esc)"""

    bl_idname = "emospeaker.cancel"
    bl_label = "Cancel"

    def execute(self, context: bpy.types.Context) -> set[str]:
        tasks.cancel_all()
        return {"FINISHED"}


CLASSES = (
    EMOSPEAKER_OT_key_emotion,
    EMOSPEAKER_OT_auto_map,
    EMOSPEAKER_OT_generate,
    EMOSPEAKER_OT_render_shot,
    EMOSPEAKER_OT_bake_file,
    EMOSPEAKER_OT_clear_bake,
    EMOSPEAKER_OT_add_head,
    EMOSPEAKER_OT_export_track,
    EMOSPEAKER_OT_export_gltf,
    EMOSPEAKER_OT_store_pose,
    EMOSPEAKER_OT_remove_pose,
    EMOSPEAKER_OT_export_poses,
    EMOSPEAKER_OT_import_poses,
    EMOSPEAKER_OT_select_emotion_keys,
    EMOSPEAKER_OT_cancel,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    tasks.cancel_all()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
