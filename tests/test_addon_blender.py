"""The Blender add-on in real Blender (the bpy wheel) against a real backend.

The zip is built by scripts/build_addon.py (wheels repacked from this environment: no
network), installed as an extension into a temporary user folder, and each scenario of
tests/blender/scenarios.py runs in its own Blender process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import struct
import subprocess
import sys
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import BACKEND, ROOT, SAMPLE_AUDIO, SAMPLE_TEXT, cli_env

if importlib.util.find_spec("bpy") is None:  # not imported here: Blender would start up
    pytest.skip("the add-on tests need the bpy wheel (Python 3.11)", allow_module_level=True)

from emospeaker.emotion import EMOTIONS  # noqa: E402
from emospeaker.formats import load_track, save_track  # noqa: E402
from emospeaker.track import FaceTrack  # noqa: E402
from emospeaker.wire import client as wire  # noqa: E402

SCENARIOS = ROOT / "tests" / "blender" / "scenarios.py"
BLENDSHAPES = 52


def has_head() -> bool:
    return importlib.util.find_spec("emospeaker.face.gltf") is not None


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, str(ROOT / "scripts" / "build_addon.py"), "--output", str(out),
           "--platforms", "current", "--wheels-from", "installed"]  # fmt: skip
    if not has_head():
        cmd.append("--no-head")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A real `emospeaker serve` on a free loopback port; its log is kept for the checks."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emospeaker", "serve", "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, text=True, env=cli_env(),
        )  # fmt: skip
        line = proc.stdout.readline()
        assert line.startswith("emospeaker serving on "), log.read_text()
        yield {"address": line.split()[-1], "log": log}
        proc.terminate()
        proc.wait(30)


# The Python whose bpy runs the scenarios: this one (Blender 5.0), or another environment's
# (tests/test_addon_blender42.py sets it to .venv-blender42's, with Blender 4.2 LTS)
BLENDER_PYTHON = os.environ.get("EMOSPEAKER_BLENDER_PYTHON") or sys.executable


def scenario(name: str, tmp: Path, **args: object) -> dict:
    env = cli_env()
    env["BLENDER_USER_RESOURCES"] = str(tmp / f"blender-{name}")  # never the home folder
    proc = subprocess.run(
        [BLENDER_PYTHON, str(SCENARIOS), name, json.dumps(args, default=str)],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    result = json.loads(lines[-1][len("RESULT ") :])
    result["_stdout"] = proc.stdout
    return result


def layered_track(frames: int = 120, start: int = 30) -> FaceTrack:
    """Four overlapping layers whose sum leaves [0, 1] (so the clamp matters); two of them turn
    the head (their angles add before the rotation, as the backend combines layers)."""
    rng = np.random.default_rng(1)
    t = np.arange(frames) / 24
    layers = {}
    for i, name in enumerate(("lips", "emotion", "head", "eyes")):
        v = np.zeros((frames, 58), np.float32)
        cols = rng.choice(BLENDSHAPES, 20, replace=False)
        v[:, cols] = 0.35 + 0.35 * np.sin(t[:, None] * (1 + i) + rng.random(20) * 6)
        if name == "emotion":
            v[:, cols[:5]] -= 0.5
        layers[name] = v
    layers["head"][:, 52:55] = 0.2 * np.sin(t[:, None] * np.array([1.3, 0.7, 2.1]))
    layers["head"][:, 55:58] = 0.01 * np.cos(t[:, None] * np.array([1.1, 0.9, 0.5]))
    layers["emotion"][:, 52:55] = 0.15 * np.cos(t[:, None] * np.array([0.4, 1.9, 0.8]))
    return FaceTrack(Fraction(24000, 1001), layers, start_frame=start, provenance={"engine": "t"})


def head_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """R = Rz(yaw) Rx(pitch) Ry(roll), the add-on's documented convention."""
    cp, sp, cy, sy, cr, sr = (
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
        np.cos(roll),
        np.sin(roll),
    )  # noqa: E501
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cr, 0, sr], [0, 1, 0], [-sr, 0, cr]])
    return rz @ rx @ ry


def read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, _, _ = struct.unpack_from("<III", data, 0)
    assert magic == 0x46546C67  # "glTF"
    json_len, _ = struct.unpack_from("<II", data, 12)
    doc = json.loads(data[20 : 20 + json_len])
    bin_len, _ = struct.unpack_from("<II", data, 20 + json_len)
    return doc, data[28 + json_len : 28 + json_len + bin_len]


def accessor(doc: dict, blob: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    return np.frombuffer(blob, np.float32, acc["count"] * width, start).reshape(acc["count"], -1)


# ---------------------------------------------------------------------------------------------


def test_keying_mapping_bake_undo_layers_and_exports(addon_zip: Path, tmp_path: Path) -> None:
    track = layered_track()
    save_track(track, tmp_path / "track.json")
    start, frames = track.start_frame, track.frames
    r = scenario(
        "keying_and_bake_file", tmp_path,
        zip=addon_zip, track=tmp_path / "track.json", start_frame=start, frames=frames,
        out=tmp_path,
    )  # fmt: skip
    # channel matching across camelCase, PascalCase, _L/_R and snake_case spellings
    assert r["auto_map"] and r["mapping"] == r["expected_names"]
    # emotion keys: all eight keyed each time; sampling equals Blender's own evaluation
    emotions = ["neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised"]
    assert r["emotion_curves"] == [[f"emospeaker.{e}", 3] for e in sorted(emotions)]
    assert not r["emotion_on_face"]  # on the add-on's own emotion object, not the face
    assert r["emotion_sampling_max_diff"] == 0.0
    assert r["emotion_at"]["20"] == [0, 0, 0, 0, 0, 0, 0.5, 0]
    assert r["emotion_at"]["40"] == pytest.approx([0, 0, 0, 0, 0, 0, 0.5, 0.3])
    # a foreign action is never overwritten without asking; asking changes nothing
    assert r["conflict"]["result"] == ["CANCELLED"] and "MyJawKeys" in r["conflict"]["message"]
    assert r["unchanged_after_conflict"]
    assert r["stash"]["result"] == ["FINISHED"] and not r["active_after_stash"]
    assert r["foreign_kept"] == [0.25]
    names = [t[0] for t in r["tracks"]]
    assert names == ["[Action Stash]", "EmoSpeaker base", "EmoSpeaker lips",
                     "EmoSpeaker emotion", "EmoSpeaker head", "EmoSpeaker eyes"]  # fmt: skip
    assert r["tracks"][0][1] is True  # the stash is muted
    assert [t[2] for t in r["tracks"][1:]] == [["REPLACE"], ["ADD"], ["ADD"], ["ADD"], ["ADD"]]
    # shape keys equal the track: layers summed, then clamped; rest outside the take
    values = track.values
    inside = lambda f: start <= f < start + frames  # noqa: E731
    for f, got in r["values"].items():
        f = int(f)
        for channel, value in got.items():
            expected = values[f - start, track.channels.index(channel)] if inside(f) else 0.0
            assert value == pytest.approx(expected, abs=1e-6), (f, channel)
    # one undo step reverts the whole bake; redo brings it back
    assert r["undo_restores"]
    f1 = str(r["probe"][1])
    assert r["redo_values"][f1] == r["values"][f1]
    # muting the lips track removes exactly that layer
    without_lips = np.clip(sum(v for k, v in track.layers.items() if k != "lips"), 0, 1)
    for f, got in r["lips_muted"].items():
        for channel, value in got.items():
            col = track.channels.index(channel)
            assert value == pytest.approx(without_lips[int(f) - start, col], abs=1e-6)
    # gain and offset per channel; a re-bake of the same range replaces the take
    jaw = track.channels.index("jawOpen")
    for f, got in r["gain_offset"].items():
        raw = sum(v[int(f) - start, jaw] for v in track.layers.values()) if inside(int(f)) else 0
        assert got["jawOpen"] == pytest.approx(np.clip(0.1 + 0.5 * raw, 0, 1), abs=1e-6)
    assert all(n == 1 for name, n in r["tracks_after_rebake"] if name.startswith("EmoSpeaker"))
    # four shape-key layers, the base and two head-pose layers: replaced takes are gone
    assert len(r["our_actions"]) == 7 and all(users == 1 for _, users in r["our_actions"])

    # exports, read back by the backend
    exported = load_track(tmp_path / "face.json")
    assert exported.start_frame == start and exported.frames == frames
    assert exported.fps == Fraction(24000, 1001)
    assert np.allclose(exported.values[:, :BLENDSHAPES], values[:, :BLENDSHAPES], atol=1e-6)
    assert np.allclose(exported.values[:, 52:], values[:, 52:], atol=1e-5)
    csv = load_track(tmp_path / "face.csv")
    assert csv.fps == 24 and csv.start_frame == start and csv.frames == frames
    assert np.allclose(csv.values[:, :55], values[:, :55], atol=1e-5)
    save_track(exported, tmp_path / "backend.csv")
    assert (tmp_path / "backend.csv").read_bytes() == (tmp_path / "face.csv").read_bytes()
    # glTF: morph-target weights per frame, in shape-key order
    doc, blob = read_glb(tmp_path / "face.glb")
    (anim,) = doc["animations"]
    weights = [c for c in anim["channels"] if c["target"]["path"] == "weights"]
    assert len(weights) == 1
    sampler = anim["samplers"][weights[0]["sampler"]]
    times = accessor(doc, blob, sampler["input"]).ravel()
    assert len(times) == frames
    keys = r["shape_key_order"]
    w = accessor(doc, blob, sampler["output"]).reshape(frames, len(keys))
    by_key = {name: channel for channel, name in r["mapping"].items()}
    for i in (0, frames // 2, frames - 1):
        for k, name in enumerate(keys):
            if name in by_key:
                expected = values[i, track.channels.index(by_key[name])]
                assert w[i, k] == pytest.approx(expected, abs=1e-5)


def test_a_bake_failing_half_way_changes_nothing(addon_zip: Path, tmp_path: Path) -> None:
    save_track(layered_track(), tmp_path / "track.json")
    r = scenario("bake_rollback", tmp_path, zip=addon_zip, track=tmp_path / "track.json")
    assert r["raised"] == "disk full" and r["unchanged"]


def test_head_pose_on_rotated_object_and_tilted_bone(addon_zip: Path, tmp_path: Path) -> None:
    track = layered_track()
    save_track(track, tmp_path / "track.json")
    r = scenario("head_pose", tmp_path, zip=addon_zip, track=tmp_path / "track.json")
    assert max(r["euler_error"].values()) < 1e-6, r["euler_error"]
    rest = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=float)  # 90 degrees about Z
    for f, pose in r["object"].items():
        i = int(f) - track.start_frame
        pitch, yaw, roll, x, y, z = track.values[i, 52:].astype(float)
        assert np.allclose(pose["rotation"], rest @ head_rotation(pitch, yaw, roll), atol=1e-5)
        assert np.allclose(pose["location"], rest @ np.array([x, -z, y]), atol=1e-6)
    for f, pose in r["bone"].items():
        i = int(f) - track.start_frame
        pitch, yaw, roll, x, y, z = track.values[i, 52:].astype(float)
        expected = head_rotation(pitch, yaw, roll) @ np.array(pose["rest"])
        assert np.allclose(pose["rotation"], expected, atol=1e-5)
        moved = np.array(pose["location"]) - np.array(pose["rest_location"])
        assert np.allclose(moved, [x, -z, y], atol=1e-6)


@pytest.mark.parametrize("engine", ["default", "neural"])
def test_generate_on_a_real_backend_then_undo(
    addon_zip: Path, server: dict, tmp_path: Path, engine: str
) -> None:
    r = scenario(
        "generate", tmp_path, zip=addon_zip, address=server["address"], audio=SAMPLE_AUDIO,
        out=tmp_path, head=has_head(), transcript=SAMPLE_TEXT, engine=engine,
    )  # fmt: skip
    assert r["result"] == ["FINISHED"], r["message"]
    if has_head():  # the demo head: 52 keys mapped by name, head pose on its neck pivot
        assert r["add_head"][0] == ["FINISHED"] and r["head_object"] == "EmoSpeakerHead"
    first, last = r["range"]
    assert first == 11  # the sound strip's start frame
    # the server's own answer to the same request (emotion sampled by Blender per frame)
    with wire.Client(server["address"]) as client:
        expected = client.animate_track(
            wire.audio_file(SAMPLE_AUDIO),
            fps=(24000, 1001),
            start_frame=11,
            emotion=wire.emotion_curves(r["emotion"]),
            transcript=SAMPLE_TEXT,
            seed=5,
            engine=engine,
        )
    assert expected.frames == last - first + 1 and expected.start_frame == 11
    assert expected.fps == (24000, 1001)
    values = np.frombuffer(expected.values, np.float32).reshape(expected.frames, -1)
    assert len(r["mapping"]) == BLENDSHAPES
    moved = 0
    for f, got in r["values"].items():
        for channel, value in got.items():
            i = int(f) - first
            want = values[i, expected.channels.index(channel)] if i <= last - first else 0.0
            assert value == pytest.approx(want, abs=1e-6), (f, channel)
            moved += want > 0.01
    assert moved > 0  # the probes saw motion, not just rest
    for f, rotation in r["head_pose"].items():
        i = int(f) - first
        pitch, yaw, roll = values[i, 52:55] if i <= last - first else (0.0, 0.0, 0.0)
        assert np.allclose(rotation, head_rotation(pitch, yaw, roll), atol=1e-5), f
    exported = load_track(tmp_path / "gen.json")
    assert exported.start_frame == 11 and exported.fps == Fraction(24000, 1001)
    assert np.allclose(exported.values[:, :BLENDSHAPES], values[:, :BLENDSHAPES], atol=1e-6)
    assert np.allclose(exported.emotion, np.array(r["emotion"]), atol=1e-6)
    # what was sent: the transcript from a Text datablock and the seed
    assert exported.provenance["transcript"] is True and exported.provenance["seed"] == 5
    assert exported.provenance["engine"] == engine
    assert exported.provenance["audio_sha256"] == expected.provenance["audio_sha256"]
    assert r["undo_restores"], r.get("undo_diff")
    doc, _ = read_glb(tmp_path / "gen.glb")
    (anim,) = doc["animations"]  # one clip: the face's weights and the head's motion together
    paths = {c["target"]["path"] for c in anim["channels"]}
    assert "weights" in paths and "rotation" in paths, paths
    if has_head():
        names = {n.get("name") for n in doc["nodes"]}
        assert {"EmoSpeakerHead", "EmoSpeakerHeadMesh", "EmoSpeakerNeckMesh"} <= names, names
        frame, turn = r["neck_turn"]
        assert first <= frame <= last and turn > 0.01, r["neck_turn"]  # the head does turn
        assert abs(r["neck_share"] - 0.5) < 1e-3, (r["neck_share"], r["neck_turn"])


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """Mono 16 kHz float samples as a 16-bit wav."""
    from emospeaker.audio import SAMPLE_RATE

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def long_line(path: Path, repeat: int = 4) -> Path:
    """The sample said `repeat` times as a 16-bit wav: a call long enough to cancel mid-way."""
    from emospeaker.audio import load_audio

    samples = np.tile(load_audio(SAMPLE_AUDIO).samples, repeat)
    return write_wav(path, samples)


def test_cancel_leaves_the_scene_untouched(addon_zip: Path, server: dict, tmp_path: Path) -> None:
    audio = long_line(tmp_path / "long.wav")
    r = scenario("cancel", tmp_path, zip=addon_zip, address=server["address"], audio=audio)
    assert r["result"] == ["CANCELLED"] and r["cancelled_at"]
    assert r["error"] == "CallCancelled"  # the gRPC call itself was cancelled mid-flight
    assert r["unchanged"] and r["running_after"] == 0
    assert "Generate cancelled; nothing was changed" in r["_stdout"]


def short_line(path: Path, seconds: float = 1.2) -> Path:
    """A short piece of the sample (a quick render) as a 16-bit wav."""
    from emospeaker.audio import SAMPLE_RATE, load_audio

    samples = load_audio(SAMPLE_AUDIO).samples[int(0.3 * SAMPLE_RATE) :][
        : int(seconds * SAMPLE_RATE)
    ]
    return write_wav(path, samples)


def video_facts(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        audio = len(container.streams.audio)
    return {"frames": len(frames), "size": frames[0].shape[:2], "audio": audio, "first": frames[0]}


def test_render_shot_places_the_video_over_its_sound(
    addon_zip: Path, server: dict, tmp_path: Path
) -> None:
    import matplotlib
    from PIL import Image

    no_face = tmp_path / "no_face.png"
    ramp = np.linspace(0, 255, 160 * 160 * 3).reshape(160, 160, 3).astype(np.uint8)
    Image.fromarray(ramp).save(no_face)
    r = scenario(
        "render_shot", tmp_path, zip=addon_zip, address=server["address"],
        audio=short_line(tmp_path / "line.wav"), no_face=no_face, out=tmp_path,
        portrait=Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    )  # fmt: skip
    renders = tmp_path / "renders"
    # an unsaved file renders into the add-on's user folder, under a name any disk takes
    assert r["unsaved"] == [True, "renders", "line 1_ _take_ 2.mp4"]
    # Esc mid-call: the gRPC call is cancelled, nothing is written or placed
    assert r["cancel"] == ["CANCELLED"] and r["cancel_seen"]
    assert r["cancel_error"] == "CallCancelled" and r["cancel_unchanged"]
    assert r["cancel_files"] == [] and "Render Shot cancelled" in r["_stdout"]
    # the motion is what the face shows over the shot, the animator's edit included
    frames = r["take"]
    assert r["gathered"] == {"start": 11, "frames": frames} and r["gathered_error"] < 1e-6
    baked, edited = np.array(r["jaw_baked"]), np.array(r["jaw_edited"])
    others = np.array(r["jaw_no_lips"])  # the layers add: half the lips is halfway to these
    assert (baked - others).max() > 0.05 and np.allclose(edited, 0.5 * (baked + others), atol=1e-6)
    # mesh head at 256: above the sound strip from its start, one frame per track frame
    mesh = r["mesh"]
    assert mesh["result"] == ["FINISHED"], mesh["message"]
    (strip,) = mesh["strips"]
    assert strip["frame_start"] == 11 and strip["frames"] == frames and strip["fps"] == 24
    assert strip["channel"] == 3  # channel 2 holds another strip over those frames
    assert strip["shot"] == "line" and strip["path"] == str(renders / "line.mp4")
    assert r["sounds"] == 1  # the movie's own sound is not added again
    facts = video_facts(tmp_path / "mesh.mp4")
    assert facts["frames"] == frames and facts["size"] == (256, 256) and facts["audio"] == 1
    assert r["undo_restores"] and r["redo"] == mesh["strips"]
    # the photo render replaces that strip (same place) and file
    photo = r["photo"]
    assert photo["result"] == ["FINISHED"], photo["message"]
    assert photo["strips"] == mesh["strips"]
    photo_facts = video_facts(renders / "line.mp4")
    assert photo_facts["frames"] == frames and photo_facts["size"] == (256, 256)
    assert np.abs(photo_facts["first"].astype(int) - facts["first"]).mean() > 10
    # a portrait without a face: a clear message, no file, no strip
    result, message = r["no_face"]
    assert result == ["CANCELLED"] and "no face found" in message and "no_face.png" in message
    assert r["no_face_unchanged"] and r["files"] == ["line.mp4"]
    assert r["fps_notes"][0] == [] and "25.000 fps but the scene at 24.000" in r["fps_notes"][1][0]


def test_failures_give_clear_messages_and_change_nothing(
    addon_zip: Path, server: dict, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{s.getsockname()[1]}"
    not_audio = tmp_path / "not_audio.wav"
    not_audio.write_text("this is not a sound file")
    r = scenario(
        "failures", tmp_path, zip=addon_zip, address=server["address"], down_address=down,
        audio=SAMPLE_AUDIO, not_audio=not_audio,
    )  # fmt: skip
    result, message = r["down"]
    assert result == ["CANCELLED"] and "cannot reach" in message and down in message
    assert r["down_unchanged"]
    result, message = r["bad_audio"]
    assert result == ["CANCELLED"] and "not_audio.wav" in message
    assert r["bad_audio_unchanged"]
    assert "Choose the face object" in r["no_target"][1]


def test_local_backend_starts_and_stops_with_the_addon(addon_zip: Path, tmp_path: Path) -> None:
    r = scenario(
        "local_backend", tmp_path, zip=addon_zip, python=sys.executable, module_path=BACKEND
    )
    assert r["start"][0] == ["FINISHED"], r["start"][1]
    assert r["address"].startswith("127.0.0.1:") and r["address"] != "127.0.0.1:0"
    assert "default" in r["engines"]
    assert r["check"][0] == ["FINISHED"]
    assert r["wrong_token"][0] == ["CANCELLED"] and "UNAUTHENTICATED" in r["wrong_token"][1]
    assert "set the backend Python" in r["no_python"][1]
    assert r["exit_code"] is not None  # disabling the add-on stopped the server
    with pytest.raises(ProcessLookupError):
        os.kill(r["pid"], 0)


def test_zip_bundles_stubs_client_and_wheels_that_work_alone(
    addon_zip: Path, tmp_path: Path
) -> None:
    import zipfile

    import tomllib

    with zipfile.ZipFile(addon_zip) as zf:
        names = set(zf.namelist())
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        zf.extractall(tmp_path / "emospeaker")
    assert manifest["id"] == "emospeaker" and manifest["blender_version_min"] == "4.2.0"
    assert {"wire/client.py", "wire/emospeaker_pb2.py", "wire/emospeaker_pb2_grpc.py"} <= names
    assert ("head.glb" in names) == has_head()
    wheels = [w.removeprefix("./") for w in manifest["wheels"]]
    assert set(wheels) <= names
    assert {Path(w).name.split("-")[0] for w in wheels} == {
        "grpcio",
        "protobuf",
        "typing_extensions",
    }
    site = tmp_path / "site"
    for wheel in wheels:
        with zipfile.ZipFile(tmp_path / "emospeaker" / wheel) as zf:
            zf.extractall(site)
    # Blender's Python has none of these: import them with no site-packages at all
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import grpc, google.protobuf; from emospeaker.wire import client;"
        "assert grpc.__file__.startswith(sys.argv[1]), grpc.__file__;"
        "c = client.Client('127.0.0.1:9'); c.close(); print(google.protobuf.__version__)"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code, str(site), str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("4.")


def test_every_panel_draws_in_every_state(addon_zip: Path, tmp_path: Path) -> None:
    save_track(layered_track(), tmp_path / "track.json")
    r = scenario("ui_draw", tmp_path, zip=addon_zip, track=tmp_path / "track.json")
    drawn = r["drawn"]
    assert "Choose the face first" in drawn["empty"]
    assert "Nothing baked yet" in drawn["target"]
    assert "lips" in drawn["baked"] and "EmoSpeaker 9.9 at 127.0.0.1:1 on cpu" in drawn["baked"]
    assert "neural: no torch" in drawn["baked"] and "Generate: starting" in drawn["baked"]
    assert "Renderer: mesh (built-in head)" in drawn["empty"]
    assert all(any(t.startswith("Backend: ") for t in texts) for texts in drawn.values())
    assert r["undescribed"] == [], r["undescribed"]  # every property and operator: a tooltip
    assert "Renderer: photo (the portrait)" in drawn["baked"]


# ---------------------------------------------------------------------------------------------
# Animators' own rigs (issue 13)


def turning_track(frames: int = 48, start: int = 10) -> FaceTrack:
    """Lips moving and the head turning up to 0.2 rad (yaw and pitch), on two layers."""
    t = np.arange(frames) / 24
    lips = np.zeros((frames, 58), np.float32)
    lips[:, 17] = 0.5 + 0.4 * np.sin(t * 5)  # jawOpen
    head = np.zeros((frames, 58), np.float32)
    head[:, 52] = 0.1 * np.sin(t * 2)  # pitch
    head[:, 53] = 0.2 * np.sin(t * 3)  # yaw
    emotion = np.zeros((frames, 58), np.float32)
    emotion[:, 53] = 0.05
    layers = {"lips": lips, "emotion": emotion, "head": head}
    return FaceTrack(Fraction(24), layers, start_frame=start, provenance={"engine": "t"})


def test_any_rig_naming_conventions_and_head_targets(addon_zip: Path, tmp_path: Path) -> None:
    track = turning_track()
    save_track(track, tmp_path / "track.json")
    r = scenario("any_rig", tmp_path, zip=addon_zip, track=tmp_path / "track.json")
    # each naming convention maps all 50 keys the face has; the two missing ones are reported
    for label, got in r["conventions"].items():
        assert got["right"] == 50 and got["wrong"] == [], (label, got)
        assert got["panel"] and "mouthClose" not in got["panel"][0], (label, got)
        assert "Unmatched (2)" in got["panel"][0] and "tongueOut" in " ".join(got["panel"])
    # an armature: its head bone (not the neck); a face under an empty: the empty
    assert r["armature"][:2] == ["Rig", "head"]
    assert r["parent"][:2] == ["HeadRoot", ""]
    # a lone face with a far origin turns about a pivot behind its eyes, never its origin
    far = r["far"]
    assert far["owner"] == "Far" and "eyeBlink" in far["reason"]
    assert far["panel"] and "pivot behind the eyes" in " ".join(far["panel"])
    pivot = np.array(far["pivot"])
    assert 1.3 < pivot[2] < 1.55 and pivot[1] > -0.09  # at head height, behind the eyes
    rest_eyes = np.array(far["rest_eyes"])
    turned = [f for f in far["frames"].values() if f["angle"] > 0.1]
    assert turned
    for f in turned:
        assert np.allclose(f["pivot"], far["rest_pivot"], atol=1e-5)  # the pivot stays put
        eye_shift = np.linalg.norm(np.array(f["eyes"]) - rest_eyes)
        about_origin = 2 * np.sin(f["angle"] / 2) * np.linalg.norm(rest_eyes)  # 1.5 m lever
        assert eye_shift < 0.25 * about_origin, (eye_shift, about_origin)
    # moving head pose to another object removes it from the face and restores the face
    moved = r["moved"]
    assert not any(n.startswith("EmoSpeaker") for n in moved["face_tracks"])
    assert "EmoSpeaker head" in moved["other_tracks"]
    assert moved["face_pose_back"]
    # the rigged face: the head bone turns, not the neck and not the face object
    assert r["rigged"]["bone_turn"] > 0.01
    assert r["rigged"]["neck_turn"] == 0 and r["rigged"]["face_turn"] == pytest.approx(0, abs=1e-7)


def test_clear_bake_restores_and_emotion_keys_stay_out_of_the_rigs_action(
    addon_zip: Path, tmp_path: Path
) -> None:
    track = turning_track()
    save_track(track, tmp_path / "track.json")
    mid = track.start_frame + track.frames // 2
    r = scenario(
        "restore_and_emotion_keys", tmp_path, zip=addon_zip, track=tmp_path / "track.json", mid=mid
    )
    assert r["holder"] == "EmoSpeaker emotion Face"
    assert not any(p.startswith("emospeaker") for p in r["capture_paths"]), r["capture_paths"]
    assert r["bake"][0] == ["FINISHED"] and r["clear"][0] == ["FINISHED"]
    assert r["baked_jaw"] != pytest.approx(0.123456789, abs=1e-3)  # the bake showed
    assert max(abs(a) for a in r["baked_turn"]) > 0.03
    # values, pose, actions and NLA tracks exactly as before the first bake
    assert r["restored"], r.get("diff")
    assert r["after_clear_jaw"] == float(np.float32(0.123456789))  # the float32 it held
    assert r["active_after_clear"][0] == "Capture"
    assert r["undo_brings_bake_back"] > 0  # one undo step undoes the Clear Bake
    assert r["curves_nonzero"] and r["curves_same_after_delete"]


def test_emotion_keys_of_older_files_survive_the_first_new_key(addon_zip: Path, tmp_path: Path):
    r = scenario("legacy_emotion_keys", tmp_path, zip=addon_zip)
    assert r["holder"] == "EmoSpeaker emotion Face"
    assert max(r["before"]) == pytest.approx(0.9, abs=1e-4)
    keyed = [0, 49, 99]  # frames 1, 50, 100 (between them the new key reshapes the curve)
    after, before = (np.take(r[k], keyed) for k in ("after", "before"))
    assert after == pytest.approx(before, abs=1e-5)  # the old keys still count
    assert r["face_keys_kept"] >= 1  # and the face's own action is untouched


def test_custom_emotion_poses_change_the_generated_track(
    addon_zip: Path, server: dict, tmp_path: Path
) -> None:
    r = scenario(
        "custom_poses", tmp_path, zip=addon_zip, address=server["address"],
        audio=SAMPLE_AUDIO, out=tmp_path,
    )  # fmt: skip
    # the panel's status line: first "checking" at once, then what the backend said
    assert r["status_first"][0] == "checking"  # returned before the check could answer
    assert r["status_up"][0] == "ok" and f"at {server['address']}" in r["status_up"][1]
    assert "engines default" in r["status_up"][1]
    assert r["status_down"][0] == "down" and "no backend at 127.0.0.1:9" in r["status_down"][1]
    builtin, custom = r["builtin"], r["custom"]
    # the built-in happy smiles; the character's own happy frowns and lowers a brow instead
    assert max(builtin["values"]["mouthSmileLeft"]) > 0.5
    assert "mouthFrownLeft" not in builtin["values"]
    assert "mouthSmileLeft" not in custom["values"]
    # scaled by the keyed intensity (1) with the built-in shaping and soft knee
    from emospeaker.engines.default.emotion import shape_intensity, soft_knee

    shaped = float(shape_intensity(np.array(1.0)))
    frown = custom["values"]["mouthFrownLeft"]
    assert frown == pytest.approx([float(soft_knee(np.array(0.8 * shaped)))] * len(frown), abs=1e-5)
    brow = custom["values"]["browDownLeft"]
    assert brow == pytest.approx([0.5 * shaped] * len(brow), abs=1e-5)
    assert custom["provenance"]["emotion_poses"] == ["happy"]
    options = custom["provenance"]["options"]
    assert options["blink_rate"] == 0 and options["lip_gain"] == 1.5
    # the exported file is the CLI's --emotion-poses format; importing it elsewhere gives back
    # the same poses and gains, and a bad file changes nothing
    from emospeaker.poses import load_poses

    poses, gains = load_poses(tmp_path / "poses.json")
    assert poses["happy"]["mouthFrownLeft"] == pytest.approx(0.8)
    assert gains == {"lip_gain": 1.5, "head_motion": 1.0, "blink_rate": 0.0}
    stored, saved_gains, curves = r["reopened"]  # after saving and reopening the .blend
    assert stored["happy"] == pytest.approx(poses["happy"]) and saved_gains["blink_rate"] == 0
    assert curves[0][EMOTIONS.index("happy")] == 1.0
    assert r["import"] == ["FINISHED"]
    assert r["imported"][0]["happy"] == pytest.approx(poses["happy"])
    assert r["bad_import"][0] == ["CANCELLED"] and "poses.glee" in r["bad_import"][1]
    assert r["after_bad"]
