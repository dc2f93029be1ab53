"""`emospeaker render --image`: the matplotlib portrait animated end to end (CLI, renderer API,
gRPC), and portraits it must refuse (no face, two faces without --face, too many pixels, not an
image) without writing."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import matplotlib
import numpy as np
import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.audio import load_audio
from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.errors import Cancelled, InputError, LimitError
from emospeaker.face.landmarks import lip_aperture, track_video, video_frames
from emospeaker.formats import save_track
from emospeaker.jobs import Job
from emospeaker.render import get_renderer
from emospeaker.render.portrait import topology as tp
from emospeaker.render.portrait.image import MAX_PORTRAIT_PIXELS, decode_portrait
from emospeaker.render.portrait.motion import face_channels, face_motion
from emospeaker.render.portrait.mouth import ENAMEL, _colours, white_balance
from emospeaker.track import FaceTrack

PORTRAIT = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
FPS = Fraction(25)


def speech_like_track(frames: int = 50) -> FaceTrack:
    """Jaw opening and closing twice a second, a blink, a small head turn."""
    values = np.zeros((frames, len(ALL_CHANNELS)), np.float32)
    t = np.arange(frames) / float(FPS)
    values[:, index_of("jawOpen")] = 0.5 * np.clip(np.sin(2 * np.pi * 2 * t), 0, None)
    values[20:24, index_of("eyeBlinkLeft")] = values[20:24, index_of("eyeBlinkRight")] = 1
    values[:, index_of("headYaw")] = 0.08 * np.sin(2 * np.pi * 0.5 * t)
    return FaceTrack.from_values(values, FPS)


def write_image(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def png_header(width: int, height: int) -> bytes:
    """A png that declares `width` x `height` pixels but holds none (an empty IDAT)."""

    def chunk(kind: bytes, data: bytes = b"") -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT") + chunk(b"IEND")


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, photo):
    """The portrait at full size driven by `speech_like_track`, and what was asked."""
    folder = tmp_path_factory.mktemp("photo")
    track = speech_like_track()
    renderer = get_renderer("photo")
    animator = renderer.prepare(photo, 0)
    targets = face_motion(animator.landmarks, track)
    audio = load_audio(SAMPLE_AUDIO)
    video = renderer.render(track, folder / "out.mp4", audio=audio, portrait=photo, size=0)
    return video, track, targets, photo


def test_photo_video_has_every_frame_and_the_sound(rendered):
    video, track, _, photo = rendered
    with av.open(str(video)) as container:
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == FPS
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == track.frames
    first = next(video_frames(video))
    assert first.shape[:2] == (photo.shape[0] + photo.shape[0] % 2, photo.shape[1])


def test_retracked_mouth_follows_the_track(rendered):
    video, track, targets, _ = rendered
    tracked = track_video(video).points
    found = ~np.isnan(tracked[:, 0, 0])
    assert found.mean() > 0.95
    seen = lip_aperture(tracked[found])
    asked = lip_aperture(targets[found])
    assert np.corrcoef(seen, asked)[0, 1] > 0.9
    assert np.corrcoef(seen, track.channel("jawOpen")[found])[0, 1] > 0.8
    # mouth-landmark distance to the intended landmarks, in inter-ocular units
    lips = [13, 14, 78, 308, 0, 17, 61, 291]
    eyes = np.linalg.norm(targets[:, 33, :2] - targets[:, 263, :2], axis=1)[found]
    error = np.linalg.norm(tracked[found][:, lips, :2] - targets[found][:, lips, :2], axis=2)
    assert (error.mean(axis=1) / eyes).mean() < 0.05


def test_eyes_close_on_the_blink(rendered):
    video, track, targets, _ = rendered
    blinking = track.channel("eyeBlinkLeft") > 0.5
    # the dark irises disappear under the lids
    frames = np.stack(list(video_frames(video))).astype(float).mean(axis=3)
    for iris in (468, 473):
        at = np.rint(targets[:, iris, :2]).astype(int)
        luma = np.array(
            [f[y - 2 : y + 3, x - 2 : x + 3].mean() for f, (x, y) in zip(frames, at, strict=True)]
        )
        assert luma[blinking].min() > 1.5 * np.median(luma[~blinking])
    # and MediaPipe, tracking the video, sees the lids come together (it never quite shuts
    # them on this photo's glasses)
    tracked = track_video(video).points
    gap = np.linalg.norm(tracked[:, [159, 386], :2] - tracked[:, [145, 374], :2], axis=2).mean(1)
    assert gap[blinking].max() < 0.85 * np.median(gap[~blinking])


def test_background_far_from_the_face_is_the_photo(rendered):
    video, _, targets, photo = rendered
    face = targets[0, :, :2]
    height = np.linalg.norm(face[10] - face[152])
    ys, xs = np.mgrid[: photo.shape[0], : photo.shape[1]]
    far = np.hypot(xs - face[:, 0].mean(), ys - face[:, 1].mean()) > 1.4 * height
    assert far.mean() > 0.2
    for frame in list(video_frames(video))[::10]:
        difference = np.abs(frame[: photo.shape[0]].astype(int) - photo)[far]
        assert difference.mean() < 3  # the codec's noise only
    # while the head itself moves: the forehead follows the head turn
    moved = np.linalg.norm(targets[:, 10, :2] - targets[0, 10, :2], axis=1)
    assert moved.max() > 3


def test_cancelling_leaves_no_file(tmp_path, photo):
    job = Job(on_progress=lambda stage, f: job.cancel() if stage == "encoding" else None)
    with pytest.raises(Cancelled):
        get_renderer("photo").render(
            speech_like_track(), tmp_path / "x.mp4", portrait=photo, size=256, job=job
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_renders_a_crop_with_the_audio(run_cli, tmp_path):
    track = tmp_path / "motion.json"
    save_track(speech_like_track(30), track)
    out = tmp_path / "talk.mp4"
    run_cli(
        "render", "--image", PORTRAIT, "--track", track, SAMPLE_AUDIO, "--size", "256", "-o", out
    )
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (256, 256) and container.streams.audio


def test_cli_refuses_a_portrait_without_a_face(run_cli, tmp_path):
    blank = write_image(tmp_path / "wall.png", np.full((240, 320, 3), 200, np.uint8))
    out = tmp_path / "out.mp4"
    proc = run_cli("render", "--image", blank, SAMPLE_AUDIO, "-o", out, check=False)
    assert proc.returncode == 2 and "no face found" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wall.png"]


def test_cli_asks_which_of_two_faces(run_cli, tmp_path, photo):
    pair = write_image(tmp_path / "pair.jpg", np.hstack([photo, photo[:, ::-1]]))
    track = tmp_path / "motion.json"
    save_track(speech_like_track(10), track)
    out = tmp_path / "out.mp4"
    proc = run_cli("render", "--image", pair, "--track", track, "-o", out, check=False)
    assert proc.returncode == 2 and "2 faces found" in proc.stderr and "--face" in proc.stderr
    assert not out.exists()
    run_cli("render", "--image", pair, "--track", track, "--face", "1", "--size", "256", "-o", out)
    assert out.stat().st_size > 1000


def test_portrait_size_is_checked_from_the_header_before_decoding(photo):
    # no pixels to decode: a LimitError (not "cannot decode") shows the header decided
    with pytest.raises(LimitError, match="portrait: 9000x9000 is over 50000000 pixels") as error:
        decode_portrait(png_header(9000, 9000), "portrait")
    assert error.value.field == "portrait"
    with pytest.raises(LimitError, match="over 50000000 pixels"):  # past Pillow's own limit
        decode_portrait(png_header(60000, 60000), "portrait")
    with pytest.raises(InputError, match="cannot decode") as error:
        decode_portrait(png_header(64, 64), "portrait")
    assert not isinstance(error.value, LimitError)
    with pytest.raises(InputError, match=r"face\.txt: not an image") as error:
        decode_portrait(b"not a picture", "face.txt", field="image")
    assert error.value.field == "image"
    encoded = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))[1].tobytes()
    assert np.array_equal(decode_portrait(encoded, "portrait"), photo)  # RGB, lossless
    with pytest.raises(LimitError, match="over 1000 pixels"):
        decode_portrait(encoded, "portrait", max_pixels=1000)


def test_cli_refuses_an_oversized_portrait(run_cli, tmp_path):
    side = 9000
    assert side * side > MAX_PORTRAIT_PIXELS
    huge = tmp_path / "huge.png"  # about 90 kB on disk, 81 megapixels decoded
    huge.write_bytes(cv2.imencode(".png", np.zeros((side, side), np.uint8))[1].tobytes())
    out = tmp_path / "out.mp4"
    proc = run_cli("render", "--image", huge, SAMPLE_AUDIO, "-o", out, check=False)
    assert proc.returncode == 2 and f"huge.png: 9000x9000 is over {MAX_PORTRAIT_PIXELS}" in (
        proc.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.png"]
    garbage = tmp_path / "notes.png"
    garbage.write_bytes(b"not a picture")
    proc = run_cli("render", "--image", garbage, SAMPLE_AUDIO, "-o", out, check=False)
    assert proc.returncode == 2 and "notes.png: not an image" in proc.stderr
    assert not out.exists()


def test_render_through_a_real_server(tmp_path, run_cli):
    from emospeaker.server.convert import track_to_wire
    from emospeaker.wire import client as wc
    from grpc_support import running_server

    track = tmp_path / "motion.json"
    save_track(speech_like_track(20), track)
    blank = write_image(tmp_path / "wall.png", np.full((64, 64, 3), 90, np.uint8))
    with running_server(max_concurrent=1) as server, wc.Client(server.address, timeout=120) as c:
        # the CLI against the server: a refusal first (nothing written), then a video
        remote = ("render", "--server", server.address, "--size", "256", "--track", track)
        proc = run_cli(*remote, "--image", blank, "-o", tmp_path / "no.mp4", check=False)
        assert proc.returncode == 2 and "no face found" in proc.stderr
        assert not (tmp_path / "no.mp4").exists()
        run_cli(*remote, "--image", PORTRAIT, SAMPLE_AUDIO, "-o", tmp_path / "cli.mp4")
        with av.open(str(tmp_path / "cli.mp4")) as container:
            assert container.streams.audio and container.streams.video[0].width == 256
        # the wire client directly: progress streams, the server keeps serving after a refusal
        stages: list[str] = []
        request = wc.render_request(
            "photo", track=track_to_wire(speech_like_track(20)), portrait=PORTRAIT, size=256
        )
        with pytest.raises(wc.InvalidRequest, match="no face"):
            c.render_to(
                wc.render_request(
                    "photo", track=track_to_wire(speech_like_track(5)), portrait=blank
                ),
                None,
            )
        c.render_to(request, tmp_path / "remote.mp4", on_progress=lambda s, f: stages.append(s))
        assert "encoding" in stages and (tmp_path / "remote.mp4").stat().st_size > 1000


def enamel_pixels(
    frame: np.ndarray, region: np.ndarray, photo: np.ndarray, lips: np.ndarray
) -> int:
    """Pixels of `frame` in `region` (bool mask) coloured like teeth in this light: nearly as
    bright as the skin around the `lips` [K, 2] of `photo`, and far less saturated."""
    skin = cv2.fillPoly(np.zeros(region.shape, np.uint8), [np.int32(lips)], 1)
    skin = cv2.dilate(skin, np.ones((31, 31), np.uint8)).astype(bool)
    saturation, value = np.median(cv2.cvtColor(photo, cv2.COLOR_RGB2HSV)[skin][:, 1:], axis=0)
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(float)
    enamel = (hsv[..., 1] < 0.6 * saturation) & (hsv[..., 2] > 0.8 * value)
    return int((enamel & region).sum())


def test_a_closed_mouth_opens_onto_teeth_only_when_the_jaw_drops(photo):
    # with the upper lip lifting as in an open vowel: the upper incisors hang about 2 mm below the
    # lip at rest (the face model's mean face, adults' average) and a bare jaw drop pulls the
    # lip down over them, so without the lift only a shaded sliver of enamel shows
    renderer = get_renderer("photo")
    animator = renderer.prepare(photo, 512)
    frames = {}
    for jaw in (0.0, 0.8):
        values = np.zeros((1, len(ALL_CHANNELS)), np.float32)
        values[0, index_of("jawOpen")] = jaw
        values[0, [index_of("mouthUpperUpLeft"), index_of("mouthUpperUpRight")]] = jaw * 0.6
        track = FaceTrack.from_values(values, FPS)
        target = face_motion(animator.landmarks, track, animator.fit)[0]
        weights, head = face_channels(animator.fit, track)
        frames[jaw] = (animator.frame(target, weights[0], head[0]), target)
    opened = frames[0.8][1]
    region = cv2.fillPoly(
        np.zeros((512, 512), np.uint8), [np.int32(opened[list(tp.LIPS_INNER)])], 1
    ).astype(bool)
    assert region.sum() > 500  # the mouth really opened
    lips = animator.source[list(tp.LIPS_OUTER)]
    count = {
        jaw: enamel_pixels(frame, region, animator.canvas, lips)
        for jaw, (frame, _) in frames.items()
    }
    assert enamel_pixels(animator.canvas, region, animator.canvas, lips) == 0
    assert count[0.0] == 0  # the closed lips of the photo: no teeth
    assert count[0.8] > 40  # the upper incisors, lit


@pytest.mark.parametrize(
    "skin",
    [(0.86, 0.54, 0.39), (0.45, 0.30, 0.22), (0.62, 0.56, 0.38), (0.93, 0.80, 0.76),
     (0.70, 0.62, 0.64), (0.55, 0.58, 0.45)],
    ids=["orange", "dark", "olive", "pale", "cool-lit", "green-cast"],
)  # fmt: skip
def test_enamel_is_warm_or_neutral_whatever_the_skin(skin):
    # the light is estimated from the cheek skin, whose own tone must not dye the teeth: the
    # enamel is never greener than red nor bluer than green, and stays near ivory
    enamel = ENAMEL * white_balance(np.array(skin, np.float32))
    assert enamel[0] >= enamel[1] >= enamel[2]
    assert (enamel[0] - enamel[2]) / enamel[0] < 0.3


def test_mid_speech_enamel_reads_white_in_the_photos_light(photo):
    # a small opening (jawOpen 0.3, the upper lip lifting as in speech), where all the enamel
    # is near a lip's shade: the brightest fifth inside the lips (the incisors) is lighter than
    # the cheek skin and far less coloured (darker and yellower, it read as khaki or green-grey
    # beside the orange skin)
    animator = get_renderer("photo").prepare(photo, 512)
    values = np.zeros((1, len(ALL_CHANNELS)), np.float32)
    values[0, index_of("jawOpen")] = 0.3
    values[0, [index_of("mouthUpperUpLeft"), index_of("mouthUpperUpRight")]] = 0.18
    track = FaceTrack.from_values(values, FPS)
    target = face_motion(animator.landmarks, track, animator.fit)[0]
    weights, head = face_channels(animator.fit, track)
    frame = animator.frame(target, weights[0], head[0])
    inside = cv2.fillPoly(
        np.zeros((512, 512), np.uint8), [np.int32(target[list(tp.LIPS_INNER)])], 1
    )
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8)).astype(bool)
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(float)[inside]
    enamel = lab[lab[:, 0] >= np.percentile(lab[:, 0], 80)].mean(axis=0)
    _, skin = _colours(animator.canvas, animator.source)
    skin = cv2.cvtColor(np.uint8([[np.rint(skin * 255)]]), cv2.COLOR_RGB2LAB)[0, 0].astype(float)
    assert enamel[0] > skin[0]
    assert np.hypot(*(enamel[1:] - 128)) < 0.5 * np.hypot(*(skin[1:] - 128))


def lower_lip_middle(points: np.ndarray) -> np.ndarray:
    """The middle of the lower lip: its inner edge and, back, its outer edge [10, 2]."""
    return np.concatenate(
        [points[list(tp.LIPS_INNER[13:18])], points[list(tp.LIPS_OUTER[13:18])][::-1]]
    )


def test_the_lower_lip_keeps_its_thickness_and_colour_when_the_mouth_opens(photo):
    animator = get_renderer("photo").prepare(photo, 512)
    values = np.zeros((1, len(ALL_CHANNELS)), np.float32)
    values[0, index_of("jawOpen")] = 1
    track = FaceTrack.from_values(values, FPS)
    target = face_motion(animator.landmarks, track, animator.fit)[0]
    weights, head = face_channels(animator.fit, track)
    frame = animator.frame(target, weights[0], head[0])
    source = animator.source

    def thickness(points: np.ndarray) -> float:
        inner, outer = points[list(tp.LIPS_INNER[13:18])], points[list(tp.LIPS_OUTER[13:18])]
        return float(np.linalg.norm(inner - outer, axis=1).mean())

    assert thickness(target) > 0.9 * thickness(source)

    # what is drawn there is still lip: its colour, not the interior's or a stretched seam
    def band(image: np.ndarray, points: np.ndarray) -> np.ndarray:
        mask = cv2.fillPoly(
            np.zeros(image.shape[:2], np.uint8), [np.int32(lower_lip_middle(points))], 1
        )
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
        return image[mask].astype(float).mean(axis=0)

    assert np.abs(band(frame, target) - band(animator.canvas, source)).max() < 20


def eye_gaps(points: np.ndarray) -> np.ndarray:
    """Mean upper-to-lower lid distance of each eye of `points` [478, 2] (tp.EYES order)."""
    return np.array(
        [
            np.linalg.norm(points[list(eye[1:8])] - points[list(eye[9:][::-1])], axis=1).mean()
            for eye, _ in tp.EYES
        ]
    )


def test_emotions_move_both_lids_alike_and_partly_and_a_blink_still_shuts(photo):
    # the matplotlib portrait's fit is asymmetric (one eye wider, its own blink weights): a
    # symmetric track must still narrow both eyes by about the same share, a quarter blink
    # must lower the lids about a quarter, and only a full blink may shut them
    animator = get_renderer("photo").prepare(photo, 512)
    rest = eye_gaps(animator.source)
    blinks = [index_of("eyeBlinkLeft"), index_of("eyeBlinkRight")]
    values = np.zeros((4, len(ALL_CHANNELS)), np.float32)
    values[1, blinks] = 0.25
    values[2, blinks] = 0.25  # sad's lids: a quarter blink, looking down, a squint
    for name in ("eyeLookDownLeft", "eyeLookDownRight", "eyeSquintLeft", "eyeSquintRight"):
        values[2, index_of(name)] = 0.4
    values[3, blinks] = 1
    track = FaceTrack.from_values(values, FPS)
    open_share = np.array([eye_gaps(t) for t in face_motion(animator.landmarks, track)]) / rest
    assert np.allclose(open_share[0], 1, atol=0.02)  # a still track: the photo's eyes
    assert np.allclose(open_share[1], 0.75, atol=0.05)
    assert np.all(open_share[2] > 0.45) and np.ptp(open_share[2]) < 0.1
    assert np.all(open_share[3] < 0.05)
