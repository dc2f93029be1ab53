"""Mesh preview (OpenGL on OSMesa), glTF export into real Blender, and the capture, preview
and head commands end to end."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.channels import ALL_CHANNELS, ARKIT_BLENDSHAPES, index_of
from emospeaker.face.head import build_head
from emospeaker.formats import load_track, save_track
from emospeaker.render import get_renderer
from emospeaker.render.preview import DEFAULT_SIZE, HeadRenderer, MeshRenderer
from emospeaker.render.video import write_video
from emospeaker.track import FaceTrack

SIZE = 192


def cli(run_cli, *args, check: bool = True):
    return run_cli(*map(str, args), check=check)


def performance(frames: int = 16, fps: int = 25) -> FaceTrack:
    """A short track: the jaw opens and closes twice, the head turns to its left."""
    t = np.arange(frames) / fps
    values = np.zeros((frames, len(ALL_CHANNELS)), np.float32)
    values[:, index_of("jawOpen")] = 0.45 - 0.45 * np.cos(2 * np.pi * 2 * t / t[-1] / 2)
    values[:, index_of("headYaw")] = np.linspace(0.0, 0.25, frames)
    return FaceTrack.from_values(values, Fraction(fps), start_frame=3)


@pytest.fixture(scope="module")
def renderer():
    with HeadRenderer(SIZE, framing="face") as r:
        yield r


def test_frames_show_the_head_and_its_expressions(renderer):
    neutral = renderer.frame(np.zeros(52))
    assert neutral.shape == (SIZE, SIZE, 3) and neutral.dtype == np.uint8
    background = neutral[2, 2].astype(int)
    assert np.mean(np.abs(neutral.astype(int) - background).sum(-1) > 30) > 0.3  # a face
    w = np.zeros(52)
    w[ARKIT_BLENDSHAPES.index("jawOpen")] = 1.0
    open_ = renderer.frame(w)
    changed = np.abs(open_.astype(int) - neutral.astype(int)).sum(-1) > 40
    rows = np.flatnonzero(changed.any(axis=1))
    assert changed.mean() > 0.01 and rows.mean() > SIZE * 0.55  # the lower face changed
    turned = renderer.frame(np.zeros(52), np.array([0, 0.4, 0, 0, 0, 0]))
    assert np.abs(turned.astype(int) - neutral.astype(int)).sum(-1).mean() > 5


def test_each_frame_shows_exactly_its_own_pose(renderer):
    """The mesh stays on the GPU and each frame refills its vertices: nothing of an earlier
    frame may linger, also with a second renderer (its own context) drawing in between."""
    w = np.zeros(52)
    w[ARKIT_BLENDSHAPES.index("jawOpen")] = 0.8
    turned = np.array([0.1, 0.3, 0, 0, 0, 0])
    neutral = renderer.frame(np.zeros(52))
    first = renderer.frame(w, turned)
    assert np.abs(first.astype(int) - neutral).sum(-1).mean() > 5
    with HeadRenderer(64) as other:
        small = other.frame(np.zeros(52))
        np.testing.assert_array_equal(renderer.frame(np.zeros(52)), neutral)
        np.testing.assert_array_equal(renderer.frame(w, turned), first)
        np.testing.assert_array_equal(other.frame(np.zeros(52)), small)


def test_culling_and_vertex_lighting_keep_the_picture(renderer):
    """The fast path (back faces of shells skipped, matte parts lit per vertex) looks like
    the reference (every face drawn both sides, every pixel lit)."""
    poses = [
        ({"jawOpen": 0.9, "tongueOut": 0.5}, [0.15, -0.4, 0, 0, 0, 0]),
        ({"mouthSmileLeft": 1, "eyeBlinkRight": 1, "jawOpen": 0.3}, [0, 0.5, 0.1, 0, 0, 0]),
    ]
    with HeadRenderer(SIZE, "face", per_pixel=True, cull=False) as reference:
        for named, head in poses:
            w = np.zeros(52)
            for name, value in named.items():
                w[ARKIT_BLENDSHAPES.index(name)] = value
            fast = renderer.frame(w, np.array(head)).astype(int)
            slow = reference.frame(w, np.array(head)).astype(int)
            assert np.abs(fast - slow).mean() < 0.5  # levels of 255
            assert (np.abs(fast - slow).sum(-1) > 30).mean() < 0.005


def test_mesh_renderer_writes_an_mp4_with_the_speech(tmp_path):
    from emospeaker.audio import load_audio

    assert isinstance(get_renderer("mesh"), MeshRenderer)
    audio = load_audio(SAMPLE_AUDIO, max_seconds=60)
    track = performance()
    out = MeshRenderer().render(track, tmp_path / "preview.mp4", audio=audio, size=128)
    with av.open(str(out)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (128, 128)
        assert container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) == track.frames
    # size 0, the photo renderer's "portrait's full size", is the default size here
    few = FaceTrack(track.fps, {"lips": track.values[:2]}, track.channels)
    out = MeshRenderer().render(few, tmp_path / "default.mp4", size=0)
    with av.open(str(out)) as container:
        assert container.streams.video[0].height == DEFAULT_SIZE


def test_gltf_loads_in_blender_with_working_shape_key_animation(tmp_path):
    bpy = pytest.importorskip("bpy")  # the dev extra installs it (Python 3.11)
    from emospeaker.face.gltf import export_head_gltf
    from emospeaker.face.pose import head_rotation

    track = performance(frames=12, fps=24)
    values = track.values
    values[:, index_of("eyeBlinkLeft")] = np.linspace(1, 0, 12)
    values[:, index_of("headPitch")] = 0.1
    track = FaceTrack.from_values(values, Fraction(24), start_frame=3)
    path = export_head_gltf(tmp_path / "head.glb", track)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.scene.render.fps = 24
    bpy.ops.import_scene.gltf(filepath=str(path))
    mesh = bpy.data.objects["EmoSpeakerHeadMesh"]
    assert bpy.data.objects["EmoSpeakerNeckMesh"].parent.name == "EmoSpeakerNeck"
    keys = mesh.data.shape_keys.key_blocks
    assert [k.name for k in keys][1:] == list(ARKIT_BLENDSHAPES)
    pivot = mesh.parent
    for i in (0, 5, 11):
        bpy.context.scene.frame_set(track.start_frame + i)
        for name in ("jawOpen", "eyeBlinkLeft"):
            assert keys[name].value == pytest.approx(values[i, index_of(name)], abs=1e-5)
        # Blender is z-up: its rotation is glTF's with y -> z, z -> -y
        expected = head_rotation(values[i, index_of("headPitch") : index_of("headRoll") + 1])
        to_blender = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
        got = np.array(pivot.rotation_quaternion.to_matrix())
        np.testing.assert_allclose(got, to_blender @ expected @ to_blender.T, atol=1e-5)
    # the shape keys move the same vertices as far as the head's own shapes
    compare_shape_keys(keys, build_head())


def compare_shape_keys(keys, head) -> None:
    """Each shape key moves every imported vertex as the head's own shape moves the head's
    vertex at the same rest position, and every vertex that shape moves (off the neck)
    is there."""
    from scipy.spatial import cKDTree

    from_blender = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T  # z-up back to glTF's y-up
    rest = np.array([v.co for v in keys[0].data]) @ from_blender
    near = cKDTree(head.vertices).query_ball_point(rest, r=1e-6)
    assert all(near), "imported vertices that are not the head's"
    for name in ("jawOpen", "tongueOut", "eyeBlinkLeft", "mouthSmileRight", "browInnerUp"):
        shape = head.deltas[ARKIT_BLENDSHAPES.index(name)]
        key = keys[name]
        moved = np.array([key.data[j].co - keys[0].data[j].co for j in range(len(rest))])
        moved = moved @ from_blender
        error = [
            np.abs(shape[ids] - m).max(axis=1).min() for ids, m in zip(near, moved, strict=True)
        ]
        assert max(error) < 1e-6, name  # metres
        found = np.unique(np.concatenate(near))
        strong = np.flatnonzero(np.linalg.norm(shape, axis=1) > 1e-3)
        assert np.isin(strong, found).all(), name


def test_gltf_export_refuses_other_suffixes(tmp_path):
    from emospeaker.errors import InputError
    from emospeaker.face.gltf import export_head_gltf

    with pytest.raises(InputError, match=r"\.glb or \.gltf"):
        export_head_gltf(tmp_path / "head.obj")
    assert not list(tmp_path.iterdir())


def test_capture_recovers_a_rendered_performance(tmp_path, run_cli, renderer):
    """Render the head performing, capture the video back, compare with what was played."""
    track = performance(frames=20)
    weights = track.values[:, :52]
    head = track.values[:, 52:]
    frames = (renderer.frame(w, h) for w, h in zip(weights, head, strict=True))
    video = write_video(tmp_path / "performance.mp4", frames, track.fps)
    out = tmp_path / "captured.json"
    cli(run_cli, "capture", video, "-o", out, "--smoothing", "0")
    captured = load_track(out)
    assert captured.frames == 20 and captured.fps == 25
    assert list(captured.layers) == ["performance"]
    assert captured.provenance["source"] == "performance.mp4"
    jaw = captured.channel("jawOpen")
    assert np.corrcoef(jaw, track.channel("jawOpen"))[0, 1] > 0.9
    yaw = captured.channel("headYaw")
    assert yaw[-1] - yaw[0] == pytest.approx(0.25, abs=0.08)  # turned to its left, radians


def test_capture_errors_name_the_problem(tmp_path, run_cli):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    proc = cli(run_cli, "capture", text, "-o", tmp_path / "t.json", check=False)
    assert proc.returncode == 2 and "notes.txt" in proc.stderr
    blank = write_video(
        tmp_path / "blank.mp4", (np.zeros((64, 64, 3), np.uint8) for _ in range(3)), 25
    )
    proc = cli(run_cli, "capture", blank, "-o", tmp_path / "t.json", check=False)
    assert proc.returncode == 2 and "no face" in proc.stderr
    assert not (tmp_path / "t.json").exists()


def test_preview_renders_a_track_and_exports_the_head(tmp_path, run_cli):
    track_file = save_track(performance(frames=8), tmp_path / "t.json")
    out = tmp_path / "t.mp4"
    cli(run_cli, "preview", "--track", track_file, "-o", out, "--size", "96")
    with av.open(str(out)) as container:
        assert container.streams.video[0].width == 96 and not container.streams.audio
    glb = tmp_path / "head.glb"
    cli(run_cli, "head", "-o", glb, "--track", track_file)
    header = glb.read_bytes()[:20]
    assert header[:4] == b"glTF"
    document = json.loads(glb.read_bytes()[20 : 20 + int.from_bytes(header[12:16], "little")])
    assert document["meshes"][0]["extras"]["targetNames"] == list(ARKIT_BLENDSHAPES)
    assert len(document["animations"][0]["channels"]) == 5
    proc = cli(run_cli, "preview", "-o", tmp_path / "x.mp4", check=False)
    assert proc.returncode == 2 and "AUDIO" in proc.stderr


def test_preview_animates_speech_and_draws_the_contact_sheet(tmp_path, run_cli):
    from PIL import Image

    out = tmp_path / "hello.mp4"
    cli(
        run_cli,
        "preview",
        SAMPLE_AUDIO,
        "--emotion",
        "happy:1",
        "--fps",
        "8",
        "--size",
        "96",
        "-o",
        out,
    )
    with av.open(str(out)) as container:
        assert container.streams.audio and container.streams.video[0].average_rate == 8
    sheet = tmp_path / "sheet.png"
    cli(run_cli, "preview", "--sheet", sheet, "--size", "96")
    image = Image.open(sheet)
    # 52 shapes in 6.5 rows of 8, then the eight emotions at 0.5, 1 and 1.5: a row each
    assert image.size == (8 * 96, 10 * 96)
    pixels = np.asarray(image).astype(int)
    emotions = [pixels[r * 96 : (r + 1) * 96] for r in (7, 8, 9)]
    assert np.abs(emotions[2] - emotions[0]).mean() > 0.5  # intensity shows
    Path(sheet).unlink()
