"""Blender-side halves of tests/test_addon_blender.py, one fresh bpy process per scenario:

    python tests/blender/scenarios.py NAME '{"zip": ..., ...}'

Prints `RESULT {json}` on its last line; assertions that need the backend happen in pytest.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

# Before bpy loads: keep Blender's user folder (extensions, prefs) out of the home folder
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="emospeaker-blender-"))
sys.path.insert(0, str(Path(__file__).parent))

import bpy  # noqa: E402
import harness  # noqa: E402
from harness import addon_prefs, call, call_undoable, fingerprint, install  # noqa: E402

STYLES = (
    lambda c: c,  # jawOpen
    lambda c: c[:1].upper() + c[1:],  # JawOpen
    lambda c: c.replace("Left", "_L").replace("Right", "_R"),  # eyeBlink_L
    lambda c: "".join("_" + ch.lower() if ch.isupper() else ch for ch in c),  # eye_blink_left
)


def make_face(names: list[str], name: str = "Face") -> bpy.types.Object:
    """A small mesh with a Basis and one shape key per name (each moves one vertex)."""
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=8, y_subdivisions=8)
    obj = bpy.context.object
    obj.name = name
    obj.shape_key_add(name="Basis")
    for i, key_name in enumerate(names):
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        kb.data[i % len(kb.data)].co.z += 0.1
    return obj


def key_values(obj: bpy.types.Object, frames: list[int], names: dict[str, str]) -> dict:
    """{frame: {channel: shape key value}} after evaluating each frame."""
    out = {}
    blocks = obj.data.shape_keys.key_blocks
    for f in frames:
        bpy.context.scene.frame_set(f)
        out[f] = {channel: blocks[key].value for channel, key in names.items()}
    return out


def emotions_by_frame_set(obj: bpy.types.Object, first: int, count: int, mod) -> list:  # noqa: ANN001
    """The intensities Blender evaluates on the face's emotion object, frame by frame."""
    holder = mod.emotion.holder(obj)
    rows = []
    for f in range(first, first + count):
        bpy.context.scene.frame_set(f)
        rows.append([getattr(holder.emospeaker, e) for e in mod.arkit.EMOTIONS])
    return rows


def key_emotions(obj: bpy.types.Object, keys: list[tuple[int, str, float, bool]]) -> None:
    bpy.context.scene.emospeaker.target = obj
    for frame, emotion, intensity, exclusive in keys:
        result = bpy.ops.emospeaker.key_emotion(
            emotion=emotion, intensity=intensity, exclusive=exclusive, frame=frame
        )
        assert result == {"FINISHED"}, result


def mapped(obj: bpy.types.Object) -> dict[str, str]:
    return {r.channel: r.shape_key for r in obj.emospeaker.mapping if r.shape_key}


# ---------------------------------------------------------------------------------------------


def keying_and_bake_file(args: dict) -> dict:
    """Mapping by name, emotion keys, bake from a JSON file: conflicts, undo, layers, exports."""
    mod = install(args["zip"])
    channels = list(mod.arkit.ARKIT_BLENDSHAPES)
    names = [STYLES[i % len(STYLES)](c) for i, c in enumerate(channels)] + ["Corrective"]
    face = make_face(names)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.001  # the track's 24000/1001
    scene.emospeaker.target = face
    out: dict = {"expected_names": dict(zip(channels, names[:-1], strict=True))}
    out["auto_map"] = call(bpy.ops.emospeaker.auto_map)[0] == {"FINISHED"}
    out["mapping"] = mapped(face)

    key_emotions(
        face, [(1, "happy", 1.0, True), (20, "sad", 0.5, True), (40, "surprised", 0.3, False)]
    )
    action = mod.emotion.holder(face).animation_data.action
    out["emotion_on_face"] = face.animation_data is not None and bool(face.animation_data.action)
    out["emotion_curves"] = sorted(
        (fc.data_path, len(fc.keyframe_points)) for fc in harness.fcurves(action)
    )
    by_set = emotions_by_frame_set(face, 1, 60, mod)
    by_addon = mod.inputs.emotion_curves(face, 1, 60).tolist()
    out["emotion_sampling_max_diff"] = max(
        abs(a - b)
        for ra, rb in zip(by_set, by_addon, strict=True)
        for a, b in zip(ra, rb, strict=True)
    )
    out["emotion_at"] = {f: by_set[f - 1] for f in (1, 20, 40, 60)}

    # another tool's action on the shape keys animates jawOpen: the bake must ask first
    key = face.data.shape_keys
    jaw = out["mapping"]["jawOpen"]
    key.key_blocks[jaw].value = 0.25
    key.key_blocks[jaw].keyframe_insert("value", frame=1)
    foreign = key.animation_data.action
    foreign.name = "MyJawKeys"
    before = fingerprint()
    result, message = call(bpy.ops.emospeaker.bake_file, filepath=args["track"])
    out["conflict"] = {"result": sorted(result), "message": message}
    out["unchanged_after_conflict"] = fingerprint() == before

    before = fingerprint()
    result, message = call_undoable(
        bpy.ops.emospeaker.bake_file, filepath=args["track"], on_conflict="STASH"
    )
    out["stash"] = {"result": sorted(result), "message": message}
    tracks = key.animation_data.nla_tracks
    out["tracks"] = [(t.name, t.mute, [s.blend_type for s in t.strips]) for t in tracks]
    out["foreign_kept"] = [  # Blender 5 keeps the object's and its shape keys' keys together
        fc.keyframe_points[0].co[1]
        for fc in harness.fcurves(bpy.data.actions["MyJawKeys"])
        if fc.data_path.startswith("key_blocks")
    ]
    out["active_after_stash"] = key.animation_data.action is not None
    start, frames = args["start_frame"], args["frames"]
    probe = [
        start - 3,
        start,
        start + 1,
        start + frames // 2,
        start + frames - 1,
        start + frames + 3,
    ]
    out["probe"] = probe
    out["values"] = key_values(face, probe, out["mapping"])
    out["head"] = {}
    for f in probe:
        scene.frame_set(f)
        out["head"][f] = list(face.delta_rotation_euler) + list(face.delta_location)
    exports = Path(args["out"])
    for fmt, name in (("CSV", "face.csv"), ("JSON", "face.json")):
        result = bpy.ops.emospeaker.export_track(filepath=str(exports / name), file_format=fmt)
        assert result == {"FINISHED"}, result
    assert bpy.ops.emospeaker.export_gltf(filepath=str(exports / "face.glb")) == {"FINISHED"}
    out["shape_key_order"] = [kb.name for kb in key.key_blocks[1:]]

    bpy.ops.ed.undo()
    out["undo_restores"] = fingerprint() == before
    bpy.ops.ed.redo()
    face = bpy.data.objects["Face"]  # undo reloads data: old references are stale
    key = face.data.shape_keys
    tracks = key.animation_data.nla_tracks
    out["redo_values"] = key_values(face, probe[1:2], out["mapping"])

    # layers: mute lips, then gain/offset on one channel, then a second take elsewhere
    lips = next(t for t in tracks if t.name == "EmoSpeaker lips")
    lips.mute = True
    out["lips_muted"] = key_values(face, probe[1:4], out["mapping"])
    lips.mute = False
    row = next(r for r in face.emospeaker.mapping if r.channel == "jawOpen")
    row.gain, row.offset = 0.5, 0.1
    assert call(bpy.ops.emospeaker.bake_file, filepath=args["track"], on_conflict="KEEP")[0] == {
        "FINISHED"
    }
    key.animation_data.action = None  # let the bake show on jawOpen
    out["gain_offset"] = key_values(face, probe, {"jawOpen": jaw})
    out["tracks_after_rebake"] = [(t.name, len(t.strips)) for t in tracks]
    out["our_actions"] = sorted(
        (a.name, a.users)
        for a in bpy.data.actions
        if "emospeaker" in a.keys() and "emotion keys" not in a["emospeaker"]
    )
    return out


def head_pose(args: dict) -> dict:
    """Head pose onto a rotated object and onto a bone with a tilted rest pose."""
    mod = install(args["zip"])
    bake = mod.bake
    track = mod.track.from_json(Path(args["track"]).read_text())
    names = list(mod.arkit.ARKIT_BLENDSHAPES)
    face = make_face(names)
    face.rotation_euler = (0.0, 0.0, math.pi / 2)
    bindings = [bake.Binding(c, c) for c in names] + [
        bake.Binding(c) for c in mod.arkit.HEAD_CHANNELS
    ]
    bake.bake(track, face, bindings, bake.HeadTarget(face))
    bpy.ops.object.armature_add()
    arm = bpy.context.object
    bpy.ops.object.mode_set(mode="EDIT")
    bone = arm.data.edit_bones[0]
    bone.name = "head"
    bone.tail = (0.0, -0.3, 1.0)  # leaning forward
    bone.roll = 0.4
    bpy.ops.object.mode_set(mode="OBJECT")
    assert arm.pose.bones["head"].rotation_mode == "QUATERNION"  # the object uses XYZ Euler
    # another face: a new head target for the same face would release the first one
    bake.bake(track, make_face(names, "Face2"), bindings, bake.HeadTarget(arm, "head"))
    out: dict = {"object": {}, "bone": {}, "euler_error": {}}
    from mathutils import Euler

    rng = __import__("random").Random(3)
    for order in ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"):  # numpy conversion vs Blender's
        angles = [[rng.uniform(-1.2, 1.2) for _ in range(3)] for _ in range(20)]
        mats = [[list(r) for r in Euler(a, order).to_matrix()] for a in angles]
        got = bake._eulers(__import__("numpy").array(mats), order).tolist()
        out["euler_error"][order] = max(abs(g - a) for gs, a_ in zip(got, angles, strict=True)
                                        for g, a in zip(gs, a_, strict=True))  # fmt: skip
    frames = [track.start_frame + i for i in (0, track.frames // 2, track.frames - 1)]
    for f in frames:
        bpy.context.scene.frame_set(f)
        bpy.context.view_layer.update()
        out["object"][f] = {
            "rotation": [list(r) for r in face.matrix_world.to_3x3()],
            "location": list(face.matrix_world.translation),
        }
        pb = arm.pose.bones["head"]
        out["bone"][f] = {
            "rotation": [list(r) for r in pb.matrix.to_3x3()],
            "rest": [list(r) for r in pb.bone.matrix_local.to_3x3()],
            "location": list(pb.matrix.translation),
            "rest_location": list(pb.bone.matrix_local.translation),
        }
    return out


def bake_rollback(args: dict) -> dict:
    """A bake that fails half-way (after the shape keys, a stash and the base are done) leaves
    the file exactly as it was, an earlier take included."""
    mod = install(args["zip"])
    bake = mod.bake
    track = mod.track.from_json(Path(args["track"]).read_text())
    names = list(mod.arkit.ARKIT_BLENDSHAPES)
    face = make_face(names)
    bindings = [bake.Binding(c, c) for c in names] + [
        bake.Binding(c) for c in mod.arkit.HEAD_CHANNELS
    ]
    bake.bake(track, face, bindings, bake.HeadTarget(face))  # an earlier take to replace
    key = face.data.shape_keys
    key.key_blocks["jawOpen"].value = 0.5
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=3)  # a conflict to stash
    before = fingerprint()

    def broken(*_args: object) -> int:
        raise RuntimeError("disk full")

    bake._bake_head = broken
    try:
        bake.bake(track, face, bindings, bake.HeadTarget(face), on_conflict="STASH")
        raised = ""
    except RuntimeError as exc:
        raised = str(exc)
    return {"raised": raised, "unchanged": fingerprint() == before}


def generate(args: dict) -> dict:
    """Sound strip (a sound file on Blender 4.2) at frame 11 on a 24000/1001 timeline,
    emotion keys, Generate on a real backend, exports, then one undo."""
    mod = install(args["zip"])
    addon_prefs().address = args["address"]
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.001
    harness.add_dialogue(scene, "dialogue", args["audio"], 11)
    text = bpy.data.texts.new("line")
    text.write(args["transcript"])
    scene.emospeaker.transcript_text = text
    scene.emospeaker.seed = 5
    scene.emospeaker.engine = args["engine"]
    out: dict = {}
    if args.get("head"):
        out["add_head"] = call(bpy.ops.emospeaker.add_head)
        face = scene.emospeaker.target
    else:
        face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
        scene.emospeaker.target = face
    key_emotions(
        face, [(11, "neutral", 0.5, True), (40, "happy", 0.9, True), (90, "sad", 0.7, True)]
    )
    before = fingerprint()
    started = time.monotonic()
    result, message = call_undoable(bpy.ops.emospeaker.generate)
    out["seconds"] = time.monotonic() - started
    out["result"], out["message"] = sorted(result), message
    first, last = mod.bake.baked_range(face)
    out["range"] = [first, last]
    out["mapping"] = mapped(face)
    out["emotion"] = emotions_by_frame_set(face, first, last - first + 1, mod)
    probe = [first, first + 7, (first + last) // 2, last, last + 5]
    out["probe"] = probe
    out["values"] = key_values(face, probe, out["mapping"])
    head = scene.emospeaker.head_object or face
    out["head_object"] = head.name
    out["head_pose"] = {}
    for f in probe:
        scene.frame_set(f)
        out["head_pose"][f] = [list(r) for r in head.matrix_basis.to_3x3()]
    neck = bpy.data.objects.get("EmoSpeakerNeck")
    if neck is not None:  # the demo head's neck turns by half the head's turn, checked where
        # the head turns most (at a frame where it stays still, the share would be 0 / 0)
        def turn(f: int) -> float:
            scene.frame_set(f)
            return head.matrix_world.to_quaternion().angle

        frame = max(range(first, last + 1), key=turn)
        out["neck_turn"] = [frame, turn(frame)]
        out["neck_share"] = neck.matrix_world.to_quaternion().angle / out["neck_turn"][1]
    exports = Path(args["out"])
    face = scene.emospeaker.target
    bpy.ops.emospeaker.export_track(filepath=str(exports / "gen.json"), file_format="JSON")
    bpy.ops.emospeaker.export_track(filepath=str(exports / "gen.csv"), file_format="CSV")
    assert bpy.ops.emospeaker.export_gltf(filepath=str(exports / "gen.glb")) == {"FINISHED"}
    bpy.ops.ed.undo()
    after = fingerprint()
    out["undo_restores"] = after == before
    if after != before:
        out["undo_diff"] = [k for k in before if before[k] != after[k]]
    return out


def cancel_when_working(mod, seen: dict) -> threading.Thread:  # noqa: ANN001
    """Cancel the running call (what Esc does) once the backend reports progress; `seen` gets
    the stage and fraction it was at, and the task."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = list(mod.tasks.RUNNING)
            if running and running[0].stage not in ("starting", "sending"):
                seen["stage"], seen["fraction"] = running[0].stage, running[0].fraction
                seen["task"] = running[0]
                running[0].cancel()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def cancel(args: dict) -> dict:
    """Cancel while the backend works (what Esc does): nothing changes."""
    mod = install(args["zip"])
    addon_prefs().address = args["address"]
    scene = bpy.context.scene
    scene.emospeaker.audio_source = "FILE"
    scene.emospeaker.audio_file = args["audio"]
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    key_emotions(face, [(1, "angry", 1.0, True)])
    seen: dict = {}
    before = fingerprint()
    watcher = cancel_when_working(mod, seen)
    result, message = call(bpy.ops.emospeaker.generate)
    watcher.join()
    task = seen.pop("task", None)
    return {
        "result": sorted(result),
        "message": message,
        "cancelled_at": seen,
        "error": type(task.error).__name__ if task and task.error else None,
        "unchanged": fingerprint() == before,
        "running_after": len(mod.tasks.RUNNING),
    }


def sequencer() -> list:
    """The Sequencer's strips as plain values, to compare a scene before and after."""
    editor = bpy.context.scene.sequence_editor
    return sorted(
        (s.name, s.type, s.channel, s.frame_start, s.frame_final_duration, s.get("emospeaker_shot"))
        for s in (editor.strips_all if editor else ())
    )


def movie_strips() -> list[dict]:
    editor = bpy.context.scene.sequence_editor
    return [
        {
            "name": s.name,
            "channel": s.channel,
            "frame_start": s.frame_start,
            "frames": s.frame_final_duration,
            "path": bpy.path.abspath(s.filepath),
            "shot": s.get("emospeaker_shot"),
            "fps": s.fps,
        }
        for s in editor.strips_all
        if s.type == "MOVIE"
    ]


def render_shot(args: dict) -> dict:
    """Render Shot on a real backend: cancel, the baked animation with an edit, the mesh head
    at 256, undo and redo, a photo re-render that replaces the strip, a portrait without a
    face."""
    import shutil

    mod = install(args["zip"])
    addon_prefs().address = args["address"]
    folder = Path(args["out"])
    unsaved = mod.shots.output_path("//renders/", 'line 1: "take" 2')
    user = Path(os.environ["BLENDER_USER_RESOURCES"])
    out: dict = {"unsaved": [unsaved.is_relative_to(user), unsaved.parent.name, unsaved.name]}
    bpy.ops.wm.save_as_mainfile(filepath=str(folder / "shot.blend"))  # renders go to //renders
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    editor = scene.sequence_editor_create()
    harness.strips(editor).new_sound("line", args["audio"], 1, 11)
    harness.strips(editor).new_effect(
        "title", "COLOR", 2, 15, length=10
    )  # channel 2 is taken there
    settings = scene.emospeaker
    settings.sound_strip, settings.render_size = "line", "256"
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    key_emotions(face, [(11, "happy", 0.8, True)])
    renders = folder / "renders"

    seen: dict = {}
    before = fingerprint(), sequencer()
    watcher = cancel_when_working(mod, seen)
    out["cancel"] = list(call(bpy.ops.emospeaker.render_shot)[0])
    watcher.join()
    task = seen.pop("task", None)
    out["cancel_error"] = type(task.error).__name__ if task and task.error else None
    out["cancel_seen"] = seen
    out["cancel_unchanged"] = (fingerprint(), sequencer()) == before
    out["cancel_files"] = sorted(p.name for p in renders.iterdir()) if renders.exists() else []

    assert call(bpy.ops.emospeaker.generate)[0] == {"FINISHED"}
    out["take"] = mod.bake.take_frames(face, 11)
    # the animator's edit: the lips layer at half strength; the render must show that
    key = face.data.shape_keys
    shot_frames = range(11, 11 + out["take"])

    def jaw_keys() -> list[float]:
        return [v["jawOpen"] for v in key_values(face, shot_frames, mapped(face)).values()]

    out["jaw_baked"] = jaw_keys()
    lips = next(t for t in key.animation_data.nla_tracks if t.name == "EmoSpeaker lips")
    lips.strips[0].influence = 0.0  # what the other layers (an open-mouth smile) give alone
    out["jaw_no_lips"] = jaw_keys()
    lips.strips[0].influence = 0.5
    out["jaw_edited"] = jaw_keys()
    shot = mod.shots.gather(bpy.context)
    jaw = shot.track.values[:, shot.track.channels.index("jawOpen")]
    out["gathered"] = {"start": shot.track.start_frame, "frames": shot.track.frames}
    out["gathered_error"] = float(max(abs(jaw - out["jaw_edited"])))

    before = sequencer()
    result, message = call_undoable(bpy.ops.emospeaker.render_shot)
    out["mesh"] = {"result": sorted(result), "message": message, "strips": movie_strips()}
    out["sounds"] = sum(1 for s in editor.strips_all if s.type == "SOUND")
    shutil.copy(renders / "line.mp4", folder / "mesh.mp4")
    bpy.ops.ed.undo()
    out["undo_restores"] = sequencer() == before
    bpy.ops.ed.redo()
    out["redo"] = movie_strips()

    image = bpy.data.images.load(args["portrait"])
    bpy.context.scene.emospeaker.portrait_image = image
    result, message = call_undoable(bpy.ops.emospeaker.render_shot)
    out["photo"] = {"result": sorted(result), "message": message, "strips": movie_strips()}

    bpy.context.scene.emospeaker.portrait_image = None
    bpy.context.scene.emospeaker.portrait_file = args["no_face"]
    before = sequencer(), sorted((p.name, p.stat().st_mtime_ns) for p in renders.iterdir())
    out["no_face"] = list(call(bpy.ops.emospeaker.render_shot))
    after = sequencer(), sorted((p.name, p.stat().st_mtime_ns) for p in renders.iterdir())
    out["no_face_unchanged"] = after == before
    out["files"] = sorted(p.name for p in renders.iterdir())
    out["fps_notes"] = [
        mod.shots.fps_notes(bpy.context.scene, rate, movie)
        for rate, movie in ((24, 24.0), (25, 25.0))
    ]
    return out


def failures(args: dict) -> dict:
    """Server down, and an unreadable audio file on a real server: clear errors, no change."""
    mod = install(args["zip"])
    scene = bpy.context.scene
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    key_emotions(face, [(1, "fear", 0.7, True)])
    scene.emospeaker.audio_source = "FILE"
    scene.emospeaker.audio_file = args["audio"]
    out = {}
    before = fingerprint()
    addon_prefs().address = args["down_address"]
    out["down"] = call(bpy.ops.emospeaker.generate)
    out["down_unchanged"] = fingerprint() == before
    addon_prefs().address = args["address"]
    scene.emospeaker.audio_file = args["not_audio"]
    out["bad_audio"] = call(bpy.ops.emospeaker.generate)
    out["bad_audio_unchanged"] = fingerprint() == before
    scene.emospeaker.audio_file = args["audio"]
    scene.emospeaker.target = None
    out["no_target"] = call(bpy.ops.emospeaker.generate)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def local_backend(args: dict) -> dict:
    """Start Local Backend from a configured Python, check it, stop it by disabling the add-on."""
    mod = install(args["zip"])
    prefs = addon_prefs()
    out: dict = {"no_python": call(bpy.ops.emospeaker.start_backend)}
    prefs.python = args["python"]
    prefs.module_path = args["module_path"]
    prefs.address = ""
    prefs.token = "s3cret"  # the local server then requires it
    out["start"] = call(bpy.ops.emospeaker.start_backend)
    server = mod.backend.local_server()
    out["pid"] = server.process.pid if server else None
    out["address"] = prefs.address
    caps = mod.backend.STATE.capabilities
    out["engines"] = [e[0] for e in caps.engines] if caps else []
    out["check"] = call(bpy.ops.emospeaker.check_connection)
    prefs.token = "wrong"
    out["wrong_token"] = call(bpy.ops.emospeaker.check_connection)
    bpy.ops.preferences.addon_disable(module=harness.MODULE)
    out["exit_code"] = server.process.poll() if server else None
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def ui_draw(args: dict) -> dict:
    """Every panel, list row, dialog and the preferences drawn in each state, headless."""
    mod = install(args["zip"])
    ctx, scene = bpy.context, bpy.context.scene
    calls: list = []
    prefs = addon_prefs()
    drawn: dict = {}

    def draw_all(state: str) -> None:
        start = len(calls)
        for cls in mod.ui.CLASSES:
            if issubclass(cls, bpy.types.Panel):
                cls.draw(harness.Drawn(cls, calls), ctx)
        type(prefs).draw(harness.Drawn(prefs, calls), ctx)
        drawn[state] = [text for _, text in calls[start:] if text]

    draw_all("empty")
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    scene.emospeaker.target = face
    draw_all("target")
    assert bpy.ops.emospeaker.auto_map() == {"FINISHED"}
    assert bpy.ops.emospeaker.bake_file(filepath=args["track"]) == {"FINISHED"}
    scene.emospeaker.head_mode = "BONE"
    scene.emospeaker.audio_source = "FILE"
    caps = mod.backend.Capabilities(
        "127.0.0.1:1", "9.9", "cpu", [("default", True, "d"), ("neural", False, "no torch")],
        ["mesh"], 600.0,
    )  # fmt: skip
    mod.backend.STATE.capabilities = caps
    scene.emospeaker.portrait_file = "//portrait.jpg"
    task = mod.tasks.Task("Generate", lambda t: time.sleep(0.3)).start()
    draw_all("baked")
    task.wait()
    task.forget()
    ul = mod.ui.EMOSPEAKER_UL_mapping
    rows = face.emospeaker.mapping
    for item in (rows[0], rows[len(rows) - 1]):  # a shape key row and a head row
        ul.draw_item(
            harness.Drawn(ul, calls), ctx, harness.FakeLayout(calls), face.emospeaker, item, 0,
            face.emospeaker, "mapping_index",
        )  # fmt: skip
    op, rna = bpy.types.EMOSPEAKER_OT_generate, bpy.ops.emospeaker.generate.get_rna_type()
    op.draw(harness.Drawn(op, calls, bl_rna=rna, _found=["action 'X' ..."]), ctx)
    return {"drawn": drawn, "calls": len(calls), "undescribed": undescribed(mod)}


def undescribed(mod) -> list[str]:  # noqa: ANN001
    """Properties and operators of the add-on without a tooltip."""
    missing = []
    groups = [*mod.properties.CLASSES, type(addon_prefs())]
    for cls in groups:
        for prop in cls.bl_rna.properties:
            if prop.identifier not in ("rna_type", "name", "bl_idname") and not prop.description:
                missing.append(f"{cls.__name__}.{prop.identifier}")
    for cls in [*mod.operators.CLASSES, *mod.prefs.CLASSES[1:]]:
        module, name = cls.bl_idname.split(".")
        if not getattr(getattr(bpy.ops, module), name).get_rna_type().description:
            missing.append(cls.bl_idname)
    return missing


# ---------------------------------------------------------------------------------------------
# Animators' own rigs (issue 13)

CONVENTIONS = {
    "camelCase": lambda c: c,
    "_L/_R": lambda c: c.replace("Left", "_L").replace("Right", "_R"),
    ".L/.R": lambda c: c.replace("Left", ".L").replace("Right", ".R"),
    "PascalCase": lambda c: c[:1].upper() + c[1:],
    "prefix A01_": lambda c: f"A{ARKIT_INDEX[c]:02d}_{c}",
    "prefix Face.": lambda c: f"Face.{c}",
    "UPPER case": lambda c: c.upper(),
}
ARKIT_INDEX: dict[str, int] = {}


def face_with_eyes(name: str, offset: tuple[float, float, float]) -> bpy.types.Object:
    """A face mesh whose vertices sit `offset` away from its origin, with eyeBlink shape keys
    that move the lids at x = +-0.03 (Left is the face's left, +X: it looks along -Y)."""
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.1, location=(0, 0, 0))
    obj = bpy.context.object
    obj.name = name
    for v in obj.data.vertices:
        v.co += __import__("mathutils").Vector(offset)
    obj.shape_key_add(name="Basis")
    for key_name, x in (("eyeBlinkLeft", 0.03), ("eyeBlinkRight", -0.03)):
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        for v, point in zip(obj.data.vertices, kb.data, strict=True):
            local = v.co - __import__("mathutils").Vector(offset)
            if (local - __import__("mathutils").Vector((x, -0.09, 0.02))).length < 0.03:
                point.co.z -= 0.01
    for c in ("jawOpen", "mouthSmileLeft"):
        obj.shape_key_add(name=c, from_mix=False).data[0].co.z += 0.01
    return obj


def any_rig(args: dict) -> dict:
    """Auto-map across naming conventions, and where head pose goes on each kind of rig."""
    mod = install(args["zip"])
    scene = bpy.context.scene
    track = mod.track.from_json(Path(args["track"]).read_text())
    channels = list(mod.arkit.ARKIT_BLENDSHAPES)
    ARKIT_INDEX.update({c: i for i, c in enumerate(channels)})
    out: dict = {"conventions": {}}
    for label, spell in CONVENTIONS.items():
        face = make_face([spell(c) for c in channels[:-2]], name=f"Face {label}")
        scene.emospeaker.target = face
        assert bpy.ops.emospeaker.auto_map() == {"FINISHED"}
        found = mapped(face)
        calls: list = []
        mod.ui.EMOSPEAKER_PT_mapping.draw(
            harness.Drawn(mod.ui.EMOSPEAKER_PT_mapping, calls), bpy.context
        )
        out["conventions"][label] = {
            "right": sum(found.get(c) == spell(c) for c in channels[:-2]),
            "wrong": sorted(c for c, k in found.items() if k != spell(c)),
            "panel": [t for _, t in calls if t and "Unmatched" in t],
        }

    # an armature with a head bone (and a neck below it); the face deforms with it
    bpy.ops.object.armature_add()
    arm = bpy.context.object
    arm.name = "Rig"
    bpy.ops.object.mode_set(mode="EDIT")
    root = arm.data.edit_bones[0]
    root.name = "spine"
    for bone_name, head, tail in (
        ("neck", (0, 0, 1), (0, 0, 1.2)),
        ("head", (0, 0, 1.2), (0, 0, 1.5)),
    ):
        b = arm.data.edit_bones.new(bone_name)
        b.head, b.tail = head, tail
    bpy.ops.object.mode_set(mode="OBJECT")
    rigged = face_with_eyes("Rigged", (0, 0, 1.4))
    rigged.modifiers.new("Armature", "ARMATURE").object = arm
    target = mod.mapping.automatic_head(rigged)
    out["armature"] = [target.owner.name, target.bone, target.reason]

    # a glTF-style head: face, eyes and teeth under a transform empty
    empty = bpy.data.objects.new("HeadRoot", None)
    scene.collection.objects.link(empty)
    parented = face_with_eyes("Parented", (0, 0, 0))
    parented.parent = empty
    target = mod.mapping.automatic_head(parented)
    out["parent"] = [target.owner.name, target.bone, target.reason]

    # a lone face whose origin is 1.5 m below the head: turned about a pivot behind the eyes
    far = face_with_eyes("Far", (0, 0, 1.5))
    scene.emospeaker.target = far
    scene.emospeaker.head_mode = "AUTO"
    target = mod.mapping.head_target(scene.emospeaker, far)
    out["far"] = {"owner": target.owner.name, "reason": target.reason, "pivot": list(target.pivot)}
    calls = []
    mod.ui.EMOSPEAKER_PT_generate.draw(
        harness.Drawn(mod.ui.EMOSPEAKER_PT_generate, calls), bpy.context
    )
    out["far"]["panel"] = [t for _, t in calls if t]
    assert call(bpy.ops.emospeaker.auto_map)[0] == {"FINISHED"}
    result, message = call(bpy.ops.emospeaker.bake_file, filepath=args["track"])
    assert result == {"FINISHED"}, message
    from mathutils import Vector

    eye_mid = Vector((0, -0.09, 0.02 + 1.5))  # the lids' midpoint in the face's coordinates
    frames = {}
    for i in range(track.frames):
        f = track.start_frame + i
        scene.frame_set(f)
        bpy.context.view_layer.update()
        world = far.matrix_world
        frames[f] = {
            "eyes": list(world @ eye_mid),
            "pivot": list(world @ Vector(target.pivot)),
            "angle": world.to_quaternion().angle,
        }
    out["far"]["frames"] = frames
    scene.frame_set(1)
    bpy.context.view_layer.update()
    out["far"]["rest_eyes"] = list(far.matrix_world @ eye_mid)
    out["far"]["rest_pivot"] = list(far.matrix_world @ Vector(target.pivot))

    # moving head pose to another object: the face loses its head strips and its pose
    before = (tuple(far.delta_location), tuple(far.delta_rotation_euler))
    other = bpy.data.objects.new("OtherHead", None)
    scene.collection.objects.link(other)
    scene.emospeaker.head_mode, scene.emospeaker.head_object = "OBJECT", other
    result, message = call(bpy.ops.emospeaker.bake_file, filepath=args["track"])
    assert result == {"FINISHED"}, message
    scene.frame_set(track.start_frame + track.frames // 2)
    out["moved"] = {
        "face_tracks": [
            t.name for t in (far.animation_data.nla_tracks if far.animation_data else [])
        ],
        "other_tracks": [t.name for t in other.animation_data.nla_tracks],
        "face_pose_back": (tuple(far.delta_location), tuple(far.delta_rotation_euler)) == before,
        "face_at_rest": list(far.delta_rotation_euler) + list(far.delta_location),
    }
    # on the armature: the head bone turns, the face object does not
    scene.emospeaker.target, scene.emospeaker.head_mode = rigged, "AUTO"
    assert call(bpy.ops.emospeaker.auto_map)[0] == {"FINISHED"}
    result, message = call(bpy.ops.emospeaker.bake_file, filepath=args["track"])
    assert result == {"FINISHED"}, message
    scene.frame_set(track.start_frame + track.frames // 2)
    out["rigged"] = {
        "bone_turn": arm.pose.bones["head"].rotation_quaternion.angle,
        "neck_turn": arm.pose.bones["neck"].rotation_quaternion.angle,
        "face_turn": rigged.matrix_world.to_quaternion().angle,
    }
    return out


def restore_and_emotion_keys(args: dict) -> dict:
    """A face that plays a capture action: emotion keys stay out of it and survive its
    deletion; Clear Bake restores values, pose and actions exactly; one undo."""
    mod = install(args["zip"])
    scene = bpy.context.scene
    channels = list(mod.arkit.ARKIT_BLENDSHAPES)
    face = make_face(channels)
    scene.emospeaker.target = face
    key = face.data.shape_keys
    # the capture: object and shape keys animated (one action with two slots on Blender 4.4+)
    key.key_blocks["browInnerUp"].value = 0.4
    key.key_blocks["browInnerUp"].keyframe_insert("value", frame=1)
    key.key_blocks["browInnerUp"].value = 0.7
    key.key_blocks["browInnerUp"].keyframe_insert("value", frame=200)
    capture = key.animation_data.action
    capture.name = "Capture"
    face.delta_rotation_euler = (0.01, 0.02, 0.03)
    face.location = (0.0, 0.0, 0.0)
    face.keyframe_insert("location", frame=1)
    face_action = face.animation_data.action
    if hasattr(bpy.types, "ActionSlot") and face_action is not capture:  # share, as glTF does
        face.animation_data.action = capture
        face.keyframe_insert("location", frame=1)
        bpy.data.actions.remove(face_action)
    for name, value in (("jawOpen", 0.123456789), ("mouthSmileLeft", 0.33), ("eyeBlinkLeft", 0.07)):
        key.key_blocks[name].value = value
    out: dict = {}
    key_emotions(face, [(1, "happy", 0.8, True), (30, "sad", 0.6, True)])
    assert bpy.ops.emospeaker.auto_map() == {"FINISHED"}  # a bake would store the mapping
    holder = mod.emotion.holder(face)
    out["holder"] = holder.name if holder else None
    out["capture_paths"] = sorted({fc.data_path for fc in harness.fcurves(capture)})
    curves_before = mod.inputs.emotion_curves(face, 1, 40).tolist()

    scene.frame_set(10)
    before = fingerprint()
    scene.frame_set(10)
    result, message = call_undoable(
        bpy.ops.emospeaker.bake_file, filepath=args["track"], on_conflict="STASH"
    )
    out["bake"] = [sorted(result), message]
    scene.frame_set(args["mid"])
    out["baked_jaw"] = key.key_blocks["jawOpen"].value
    out["baked_turn"] = list(face.delta_rotation_euler)
    result, message = call_undoable(bpy.ops.emospeaker.clear_bake)
    out["clear"] = [sorted(result), message]
    out["after_clear_jaw"] = key.key_blocks["jawOpen"].value  # at the baked frame, no frame_set
    after = fingerprint()
    out["restored"] = after == before
    if after != before:
        out["diff"] = {
            f"{k}/{name}": [str(v)[:1500], str(after[k].get(name))[:1500]]
            for k in before
            for name, v in before[k].items()
            if after[k].get(name) != v
        }
    out["active_after_clear"] = [
        key.animation_data.action.name if key.animation_data.action else None,
        face.animation_data.action.name if face.animation_data.action else None,
    ]
    bpy.ops.ed.undo()
    face = bpy.data.objects["Face"]
    out["undo_brings_bake_back"] = len(mod.bake.face_tracks(face))

    # the rig's action is deleted: the emotion keys are not in it and stay
    bpy.data.actions.remove(bpy.data.actions["Capture"])
    out["curves_same_after_delete"] = (
        mod.inputs.emotion_curves(face, 1, 40).tolist() == curves_before
    )
    out["curves_nonzero"] = any(any(r) for r in curves_before)
    return out


def legacy_emotion_keys(args: dict) -> dict:
    """A file from before the emotion object, with emotion keys on the face itself: the
    first new key moves them into the add-on's action instead of hiding them."""
    mod = install(args["zip"])
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    bpy.context.scene.emospeaker.target = face
    for frame, value in ((1, 0.0), (50, 0.9), (100, 0.2)):
        face.emospeaker.happy = value
        face.keyframe_insert("emospeaker.happy", frame=frame)
    before = mod.inputs.emotion_curves(face, 1, 100)
    mod.emotion.key(face, {**dict.fromkeys(mod.arkit.EMOTIONS, 0.0), "sad": 0.7}, 120)
    after = mod.inputs.emotion_curves(face, 1, 100)
    happy = list(mod.arkit.EMOTIONS).index("happy")
    return {
        "holder": mod.emotion.holder(face).name,
        "before": before[:, happy].tolist(),
        "after": after[:, happy].tolist(),
        "face_keys_kept": len(face.animation_data.action is not None
                              and list(mod.compat.active_fcurves(face.animation_data))),
    }  # fmt: skip


def custom_poses(args: dict) -> dict:
    """Generate with the built-in happy, then with the character's own sculpted happy pose
    and gains; export and import of the poses."""
    mod = install(args["zip"])
    addon_prefs().address = args["address"]
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 25, 1.0
    harness.add_dialogue(scene, "dialogue", args["audio"], 1)
    face = make_face(list(mod.arkit.ARKIT_BLENDSHAPES))
    scene.emospeaker.target = face
    scene.emospeaker.head_mode = "NONE"
    key_emotions(face, [(1, "happy", 1.0, True)])
    out: dict = {}

    # the panel's backend line: answered from a background check, never blocking the UI
    conn = mod.prefs.connection(bpy.context)
    started = time.monotonic()
    out["status_first"] = list(mod.backend.status(conn))
    while mod.backend.status(conn)[0] == "checking" and time.monotonic() - started < 20:
        time.sleep(0.02)
    out["status_up"] = list(mod.backend.status(conn))
    closed = mod.backend.Connection("127.0.0.1:9")
    while mod.backend.status(closed)[0] == "checking" and time.monotonic() - started < 40:
        time.sleep(0.02)
    out["status_down"] = list(mod.backend.status(closed))

    def generate_layer() -> dict:
        result, message = call(bpy.ops.emospeaker.generate)
        assert result == {"FINISHED"}, message
        out.setdefault("messages", []).append(message)
        track = next(t for t in mod.bake.face_tracks(face) if mod.bake.layer_of(t) == "emotion")
        action = track.strips[0].action
        values = {}
        for fc in harness.fcurves(action):
            name = fc.data_path.split('"')[1]
            values[name] = [fc.evaluate(f) for f in range(1, 60)]
        prov = json.loads(mod.bake.take_mark(track.strips[0])["provenance"])
        return {"values": values, "provenance": prov}

    out["builtin"] = generate_layer()
    blocks = face.data.shape_keys.key_blocks
    for kb in blocks[1:]:
        kb.value = 0.0
    blocks["mouthFrownLeft"].value = blocks["mouthFrownRight"].value = 0.8
    blocks["browDownLeft"].value = 0.5
    scene.emospeaker.key_emotion = "happy"
    out["store"] = call(bpy.ops.emospeaker.store_pose, "EXEC_DEFAULT", emotion="happy")[0] == {
        "FINISHED"
    }
    for kb in blocks[1:]:
        kb.value = 0.0
    face.emospeaker.blink_rate = 0.0
    face.emospeaker.mouth_gain = 1.5
    path = str(Path(args["out"]) / "poses.json")
    out["export"] = sorted(bpy.ops.emospeaker.export_poses(filepath=path))
    out["custom"] = generate_layer()
    # import into another face: the same poses and gains
    other = make_face(list(mod.arkit.ARKIT_BLENDSHAPES), name="Other")
    scene.emospeaker.target = other
    out["import"] = sorted(bpy.ops.emospeaker.import_poses(filepath=path))
    out["imported"] = [mod.poses.stored(other), mod.poses.gains(other)]
    # saved in the .blend: poses, gains and the emotion keys come back with the file
    blend = str(Path(args["out"]) / "poses.blend")
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    bpy.ops.wm.open_mainfile(filepath=blend)
    reopened = bpy.data.objects["Face"]
    out["reopened"] = [
        mod.poses.stored(reopened),
        mod.poses.gains(reopened),
        mod.inputs.emotion_curves(reopened, 1, 3).tolist(),
    ]
    other = bpy.data.objects["Other"]
    bpy.context.scene.emospeaker.target = other
    bad = Path(args["out"]) / "bad.json"
    bad.write_text('{"format": "emospeaker-emotion-poses", "version": 1, "poses": {"glee": {}}}')
    out["bad_import"] = call(bpy.ops.emospeaker.import_poses, filepath=str(bad))
    out["after_bad"] = mod.poses.stored(other) == out["imported"][0]
    return out


if __name__ == "__main__":
    name, raw = sys.argv[1], sys.argv[2]
    result = globals()[name](json.loads(raw))
    print(
        "RESULT "
        + json.dumps(result, default=lambda o: sorted(o) if isinstance(o, set) else str(o))
    )
    sys.stdout.flush()
    os._exit(0)  # skip Blender's slow atexit teardown
