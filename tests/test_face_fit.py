"""The expression model (ICT FaceKit at MediaPipe's 478 landmarks), and fitting landmarks back
to identity, pose and weights.

Round trip (stated in docs/face-fit.md): landmarks synthesised from ICT with known weights,
pose (and identity) are fitted back (`fit_image`) with
  - one shape at weight 1 on the mean face (each of the 51 observable shapes; tongueOut has no
    landmark): every weight within 0.2 of the truth (eyeLook*/eyeWide* at 1 read ~0.85:
    their stronger sparsity prior), mean absolute error below 0.005, head
    angles within 1 degree;
  - six random shapes at random weights in [0.2, 1] on a random person (identity ~ ICT's
    prior) with 0.5 px noise (a face ~450 px wide; 40 cases): mean absolute weight error below
    0.02, 95th percentile below 0.1, head angles within 2.5 degrees (identity and small
    rotations trade off a little), the person's landmark shape within 1 mm RMS (after
    similarity alignment: a photo does not tell size), landmarks within 1 mm RMS.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from emospeaker.channels import ARKIT_BLENDSHAPES, index_of
from emospeaker.errors import InputError
from emospeaker.face.expression import MODEL_FILE, ExpressionModel, expression_model
from emospeaker.face.fit import (
    fit_frames,
    fit_image,
    fit_video,
    neutral_from,
    to_pixels,
    umeyama,
)
from emospeaker.face.landmarks import VideoLandmarks, detect_faces
from emospeaker.face.model import load_face_model
from emospeaker.face.pose import head_angles, head_rotation

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
OBSERVABLE = [i for i, n in enumerate(ARKIT_BLENDSHAPES) if n != "tongueOut"]


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    return expression_model()


def synthesise(model, weights, angles, scale=3000.0, shift=(320.0, -260.0, 0.0), identity=None):
    """Pixel landmarks of a face (the mean, or `identity` [K]) with weights [..., 52] turned by
    angles [..., 3]."""
    shaped = model.deform(weights, model.shape(identity))
    points = shaped @ np.swapaxes(head_rotation(angles), -1, -2)
    return to_pixels(scale * points + np.asarray(shift))


def test_stored_model_matches_the_face_model(model):
    """face/data/expression_model.npz is ICT's shapes and identities at the embedded landmarks;
    if this fails, the face asset changed: run scripts/make_face_model.py."""
    face = load_face_model()
    fresh = ExpressionModel.from_face_model(  # the slits' measured motion taken as stored
        face, model.vertex_ids, model.barycentric, model.detected, model.spread_mm, model.deltas
    )
    np.testing.assert_allclose(fresh.neutral, model.neutral, atol=1e-6)
    np.testing.assert_allclose(fresh.deltas, model.deltas, atol=1e-6, err_msg=str(MODEL_FILE))
    np.testing.assert_allclose(fresh.identities, model.identities, atol=1e-6)
    assert model.identities.shape == (len(face.identities), 478, 3)


def test_landmarks_sit_where_mediapipe_sees_them_on_the_face_model(model):
    """A fresh frontal render of ICT's mean face: MediaPipe's landmarks there agree with the
    stored correspondence (projected the same way), away from the face's outline."""
    from emospeaker.face.embedding import pixels_to_view, render_view

    face = load_face_model()
    (found,) = detect_faces(render_view(face, 0.0, 0.0), max_faces=1)
    distance = np.linalg.norm(pixels_to_view(found) - model.neutral[:, :2], axis=1) * 1000
    pinned = model.spread_mm < 4.0  # the outline follows the silhouette, not one point
    assert pinned.sum() > 300
    assert np.median(distance[pinned]) < 1.5 and np.percentile(distance[pinned], 90) < 4.0


def test_slit_contours_follow_the_opening_and_the_rest_stays_on_the_skin(model):
    """Measured motion replaces ICT's sampled deltas on the lips' contours only."""
    from emospeaker.face.embedding import slit_landmarks

    face = load_face_model()
    sampled = ExpressionModel.from_face_model(
        face, model.vertex_ids, model.barycentric, model.detected, model.spread_mm
    )
    slits = slit_landmarks()
    assert 30 < slits.sum() < 60 and slits[[0, 13, 14, 17, 61, 291]].all()
    assert not slits[[159, 145, 386, 374, 1, 152]].any()  # lids, nose tip, chin
    gaze = [index_of(n) for n in ARKIT_BLENDSHAPES if n.startswith("eyeLook")]
    skin = np.delete(np.arange(52), gaze)
    np.testing.assert_allclose(
        model.deltas[skin][:, ~slits], sampled.deltas[skin][:, ~slits], atol=1e-7
    )
    jaw = index_of("jawOpen")  # opening the jaw parts the inner lips by about as ICT says
    gap = (model.deltas[jaw, 13, 1] - model.deltas[jaw, 14, 1]) * 1000
    ict_gap = (sampled.deltas[jaw, 13, 1] - sampled.deltas[jaw, 14, 1]) * 1000
    assert 0.5 * ict_gap < gap < 1.5 * ict_gap


def test_correspondence_follows_the_lips_lids_and_irises(model):
    jaw = model.deltas[index_of("jawOpen")]
    assert jaw[14, 1] < -0.010 and abs(jaw[13, 1]) < 0.003  # inner lower lip drops, upper stays
    blink = model.deltas[index_of("eyeBlinkLeft")]
    assert blink[386, 1] < -0.004 and abs(blink[374, 1]) < 0.002  # upper lid closes
    assert model.neutral[33, 0] < -0.03 and model.neutral[263, 0] > 0.03  # eye corners
    look_in = model.deltas[index_of("eyeLookInRight")]
    assert look_in[468, 0] > 0.003  # the right iris turns towards the nose (+x)
    assert np.abs(look_in[473]).max() == 0  # the left iris does not


def test_pose_conventions_follow_the_channels():
    # pitch > 0 looks down, yaw > 0 turns to the character's left, roll > 0 tilts the top of
    # the head to the character's left (+x)
    forward, up = np.array([0, 0, 1.0]), np.array([0, 1.0, 0])
    assert (head_rotation([0.3, 0, 0]) @ forward)[1] < 0
    assert (head_rotation([0, 0.3, 0]) @ forward)[0] > 0
    assert (head_rotation([0, 0, 0.3]) @ up)[0] > 0
    angles = np.array([[0.2, -0.4, 0.1], [-0.5, 0.3, -0.2]])
    np.testing.assert_allclose(head_angles(head_rotation(angles)), angles, atol=1e-12)


def test_round_trip_single_shapes(model):
    rng = np.random.default_rng(3)
    errors = []
    for i in OBSERVABLE:
        truth = np.zeros(52)
        truth[i] = 1.0
        angles = rng.uniform(-0.3, 0.3, 3)
        fit = fit_image(synthesise(model, truth, angles), model)
        errors.append(np.abs(fit.weights - truth)[OBSERVABLE])
        assert np.degrees(np.abs(fit.head_angles - angles)).max() < 1.0
    errors = np.array(errors)
    assert errors.max() < 0.2 and errors.mean() < 0.005


def test_round_trip_mixed_shapes(model):
    rng = np.random.default_rng(4)
    errors = []
    for _ in range(40):
        truth = np.zeros(52)
        chosen = rng.choice(OBSERVABLE, size=6, replace=False)
        truth[chosen] = rng.uniform(0.2, 1.0, size=6)
        angles = rng.uniform(-0.35, 0.35, 3)
        person = rng.normal(0.0, 1.0, len(model.identities))
        scale = rng.uniform(2500, 3500)
        pixels = synthesise(model, truth, angles, scale=scale, identity=person)
        pixels += rng.normal(0.0, 0.5, pixels.shape)
        fit = fit_image(pixels, model)
        errors.append(np.abs(fit.weights - truth)[OBSERVABLE])
        assert np.degrees(np.abs(fit.head_angles - angles)).max() < 2.5
        assert shape_error_mm(model, fit.identity, person) < 1.0
        rebuilt = fit.pose.invert(fit.landmarks() * [1, -1, -1])
        shaped = model.deform(fit.weights, fit.neutral)
        assert np.sqrt(np.mean(np.sum((rebuilt - shaped) ** 2, -1))) < 5e-5
        assert fit.error_mm < 1.0  # of which the noise alone is ~0.35 mm
    errors = np.array(errors)
    assert errors.mean() < 0.02 and np.percentile(errors, 95) < 0.1


def shape_error_mm(model, fitted, truth) -> float:
    """RMS landmark distance (mm) of two identities' neutral shapes, similarity-aligned."""
    got, want = model.shape(fitted), model.shape(truth)
    aligned = umeyama(got[None], want[None], np.ones(len(got))).apply(got[None])[0]
    return float(np.sqrt(np.mean(np.sum((aligned - want) ** 2, -1))) * 1000)


def test_video_fit_shares_one_identity(model):
    rng = np.random.default_rng(6)
    person = rng.normal(0.0, 1.0, len(model.identities))
    truth = np.zeros((40, 52))
    for frame in truth:
        frame[rng.choice(OBSERVABLE, size=6, replace=False)] = rng.uniform(0.2, 1.0, 6)
    angles = rng.uniform(-0.25, 0.25, (40, 3))
    pixels = synthesise(model, truth, angles, identity=person) + rng.normal(0, 0.5, (40, 478, 3))
    fits = fit_frames(pixels, model=model, iterations=6)
    assert fits.identity.shape == (len(model.identities),)
    assert shape_error_mm(model, fits.identity, person) < 0.5
    assert np.abs(fits.weights - truth)[:, OBSERVABLE].mean() < 0.03


def test_fit_image_separates_a_real_face_from_its_expression(model):
    from PIL import Image

    image = np.asarray(Image.open(PHOTO).convert("RGB"))
    (landmarks,) = detect_faces(image)
    fit = fit_image(landmarks, model)
    assert fit.weights.shape == (52,) and (0 <= fit.weights).all() and (fit.weights <= 1).all()
    assert fit.error_mm < 3.0
    assert np.abs(np.degrees(fit.head_angles)).max() < 25  # a portrait, roughly frontal
    # at its own weights the fit reproduces the photo's landmarks exactly ...
    np.testing.assert_allclose(fit.landmarks(), landmarks, atol=1e-6)
    # ... and drives the photographed face: open the jaw, turn the head
    open_jaw = fit.weights.copy()
    open_jaw[ARKIT_BLENDSHAPES.index("jawOpen")] = 1.0
    moved = fit.landmarks(open_jaw)
    face_height = np.ptp(landmarks[:, 1])
    assert moved[14, 1] - landmarks[14, 1] > 0.08 * face_height  # lower lip goes down (pixels)
    assert np.abs(moved[13, 1] - landmarks[13, 1]) < 0.02 * face_height
    turned = fit.landmarks(head=np.array([0, 0.3, 0, 0, 0, 0]))
    nose = 1  # turning to the character's left moves the nose to the image's right
    assert turned[nose, 0] - landmarks[nose, 0] > 0.05 * face_height


def test_fit_image_rejects_bad_landmarks(model):
    with pytest.raises(InputError, match="478"):
        fit_image(np.zeros((68, 2)), model)


def synthetic_clip(model, frames=60, fps=30, seed=5):
    """Landmarks of a 2 s 'performance' with known weights, head motion and lost frames."""
    t = np.arange(frames) / fps
    truth = np.zeros((frames, 52))
    truth[:, index_of("jawOpen")] = 0.5 + 0.45 * np.sin(2 * np.pi * 1.5 * t)
    truth[:, index_of("mouthSmileLeft")] = np.clip(t - 0.5, 0, 1)
    truth[:, index_of("mouthSmileRight")] = np.clip(t - 0.5, 0, 1)
    blink = np.exp(-(((t - 1.2) / 0.06) ** 2))
    truth[:, index_of("eyeBlinkLeft")] = truth[:, index_of("eyeBlinkRight")] = blink
    angles = np.stack([0.1 * np.sin(2 * np.pi * 0.5 * t), 0.2 * t - 0.2, 0.05 * t], -1)
    points = synthesise(model, truth, angles)
    rng = np.random.default_rng(seed)
    points = points + rng.normal(0, 0.4, points.shape)  # MediaPipe-like jitter (pixels)
    points[[20, 21]] = np.nan  # the face was lost for two frames
    return VideoLandmarks(points.astype(np.float32), Fraction(fps), (640, 480)), truth, angles


def test_fit_video_gives_a_bounded_smooth_track(model):
    video, truth, angles = synthetic_clip(model)
    track = fit_video(video, neutral=model.neutral, rest=False, provenance={"source": "synth"})
    assert track.frames == 60 and track.fps == 30 and list(track.layers) == ["performance"]
    assert track.provenance["frames_with_face"] == 58 and track.provenance["source"] == "synth"
    values = track.values
    weights = values[:, :52]
    assert (weights >= 0).all() and (weights <= 1).all()
    jaw = weights[:, index_of("jawOpen")]
    assert np.corrcoef(jaw, truth[:, index_of("jawOpen")])[0, 1] > 0.98
    assert np.abs(jaw - truth[:, index_of("jawOpen")]).mean() < 0.06
    assert np.abs(jaw[20:22] - truth[20:22, index_of("jawOpen")]).max() < 0.15  # bridged
    blink = weights[:, index_of("eyeBlinkLeft")]
    assert blink[36] > 0.5 and blink[:25].max() < 0.2
    # head: rotation relative to the camera, in radians with the channels' signs
    yaw = values[:, index_of("headYaw")]
    assert np.abs(yaw - angles[:, 1]).max() < np.radians(1.0)
    pitch = values[:, index_of("headPitch")]
    assert np.corrcoef(pitch, angles[:, 0])[0, 1] > 0.95


def test_smoothing_removes_jitter(model):
    video, truth, _ = synthetic_clip(model)
    idle = ~truth.any(axis=0)  # shapes the performance never uses: all motion there is noise

    def jitter(smoothing):
        track = fit_video(video, smoothing=smoothing, neutral=model.neutral, rest=False)
        return np.abs(np.diff(track.values[:, :52][:, idle], 2, axis=0)).mean()

    assert jitter(0.5) < 0.5 * jitter(0.0)


def test_rest_and_neutral_remove_a_subjects_constant_offsets(model):
    # a subject whose face at rest looks like the model with its brows raised
    video, truth, _ = synthetic_clip(model)
    offset = model.deltas[index_of("browInnerUp")] * 0.6
    shifted = model.deform(truth) + offset
    points = to_pixels(3000 * shifted + [320.0, -260.0, 0.0])
    subject = VideoLandmarks(points.astype(np.float32), video.fps, video.size)
    brow = index_of("browInnerUp")
    absolute = fit_video(subject, rest=False, neutral=model.neutral)
    assert absolute.values[:, brow].mean() > 0.5
    assert fit_video(subject).values[:, brow].mean() < 0.15  # rest taken from the clip
    calm = to_pixels(3000 * (model.neutral + offset) + [320.0, -260.0, 0.0])
    neutral = neutral_from(calm[None].repeat(3, 0), model)
    relative = fit_video(subject, neutral=neutral, rest=False)
    assert relative.values[:, brow].mean() < 0.1
    assert relative.values[:, index_of("mouthSmileLeft")][-10:].mean() > 0.8


def test_fit_video_without_any_face_is_an_input_error(model):
    empty = VideoLandmarks(np.full((5, 478, 3), np.nan, np.float32), Fraction(25), (64, 64))
    with pytest.raises(InputError, match="no face"):
        fit_video(empty)


def test_fit_frames_keeps_a_still_neutral_batch_neutral(model):
    points = synthesise(model, np.zeros((200, 52)), np.zeros((200, 3)))
    fits = fit_frames(points, model=model, smoothing=4.0)
    assert fits.weights.shape == (200, 52) and np.abs(fits.weights).max() < 0.02


def test_capture_reads_the_face_models_own_performance():
    """ICT rendered (pyrender, OSMesa) performing known channels with a turning head, tracked
    by MediaPipe and fitted as `capture` does: the weights come back in ICT's own terms."""
    from emospeaker.face.embedding import render_view

    face = load_face_model()
    frames = 14
    t = np.arange(frames) / 25
    truth = np.zeros((frames, 52))
    truth[:, index_of("jawOpen")] = 0.4 * (0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t))
    truth[frames // 2 :, index_of("mouthSmileLeft")] = 0.7
    truth[frames // 2 :, index_of("mouthSmileRight")] = 0.7
    yaw = np.radians(10.0) * np.sin(2 * np.pi * 1.5 * t)
    points = [
        detect_faces(render_view(face, 0.0, float(turn), 384, w), max_faces=1)[0]
        for w, turn in zip(truth, yaw, strict=True)
    ]
    video = VideoLandmarks(np.array(points, np.float32), Fraction(25), (384, 384))
    values = fit_video(video, smoothing=0.0).values
    jaw = values[:, index_of("jawOpen")]
    assert np.corrcoef(jaw, truth[:, index_of("jawOpen")])[0, 1] > 0.9
    assert np.abs(jaw - truth[:, index_of("jawOpen")]).mean() < 0.1
    smile = values[:, index_of("mouthSmileLeft")]
    assert smile[: frames // 2].max() < 0.2 and smile[frames // 2 :].mean() > 0.4
    assert np.abs(values[:, index_of("headYaw")] - yaw).max() < np.radians(3.0)


def test_an_iris_hidden_by_closed_lids_is_not_read_as_gaze(model):
    """MediaPipe's irises drift down under closed lids; capture must not call that a look."""
    video, truth, _ = synthetic_clip(model)
    points = video.points.copy()
    closed = truth[:, index_of("eyeBlinkLeft")] > 0.5
    points[np.ix_(closed, range(468, 478))] += [0.0, 6.0, 0.0]  # pixels: down in the image
    drifting = VideoLandmarks(points, video.fps, video.size)
    values = fit_video(drifting, smoothing=0.0, neutral=model.neutral, rest=False).values
    for name in ("eyeLookDownLeft", "eyeLookDownRight"):
        assert values[closed, index_of(name)].max() < 0.1
    assert values[closed, index_of("eyeBlinkLeft")].min() > 0.5
