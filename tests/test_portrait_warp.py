"""The photo renderer's parts on the real portrait that ships with matplotlib: topology, face
choice and framing, the warp mesh (exact inverse, still background), eyes and mouth layers."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest

from emospeaker.errors import InputError, LimitError
from emospeaker.face.landmarks import detect_faces
from emospeaker.render.portrait import topology as tp
from emospeaker.render.portrait.animator import PortraitAnimator
from emospeaker.render.portrait.framing import Framing, choose_face
from emospeaker.render.portrait.mesh import WarpMesh, _inverse_affines

PORTRAIT = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def face(photo) -> np.ndarray:
    faces = detect_faces(photo)
    assert len(faces) == 1
    return faces[0]


@pytest.fixture(scope="module")
def framed(photo, face) -> tuple[np.ndarray, np.ndarray]:
    framing = Framing.around(face, (photo.shape[1], photo.shape[0]), 256)
    return framing.canvas(photo), framing.to_canvas(face)[:, :2]


def jaw_drop(points: np.ndarray, pixels: float) -> np.ndarray:
    """A fold-free mouth opening: everything below the lips' slit moves down, fading with
    distance from the mouth (a stand-in for the face model in these unit tests)."""
    mouth = points[list(tp.LIPS_INNER)].mean(axis=0)
    width = np.linalg.norm(points[tp.MOUTH_CORNERS[1]] - points[tp.MOUTH_CORNERS[0]])
    below = (points[:, 1] > mouth[1]).astype(np.float32)
    below[list(tp.LIPS_INNER[11:])] = 1
    below[list(tp.LIPS_INNER[:11])] = 0
    fade = np.exp(-(((points[:, 0] - mouth[0]) / (1.5 * width)) ** 2))
    shift = np.zeros_like(points)
    shift[:, 1] = pixels * below * fade
    return shift


def test_topology_loops_follow_mediapipe_connections():
    from mediapipe.python.solutions import face_mesh_connections as mc

    def edges(loop):
        return {frozenset(e) for e in zip(loop, loop[1:] + loop[:1], strict=True)}

    def undirected(connections):
        return {frozenset(e) for e in connections}

    assert edges(tp.FACE_OVAL) == undirected(mc.FACEMESH_FACE_OVAL)
    lips = undirected(mc.FACEMESH_LIPS)
    assert edges(tp.LIPS_INNER) <= lips and edges(tp.LIPS_OUTER) <= lips
    assert edges(tp.RIGHT_EYE) == undirected(mc.FACEMESH_RIGHT_EYE)
    assert edges(tp.LEFT_EYE) == undirected(mc.FACEMESH_LEFT_EYE)
    assert set(tp.RIGHT_IRIS[1:]) == {i for e in mc.FACEMESH_RIGHT_IRIS for i in e}


def test_choose_face_names_the_problem():
    with pytest.raises(InputError, match="no face found"):
        choose_face([], None, "me.jpg")
    two = [np.zeros((478, 3)), np.ones((478, 3))]
    with pytest.raises(InputError, match=r"2 faces found.*0\.\.1"):
        choose_face(two, None, "us.jpg")
    with pytest.raises(InputError, match="face index 2 does not exist"):
        choose_face(two, 2, "us.jpg")
    assert choose_face(two, 1, "us.jpg") is two[1]


def test_framing_crops_around_the_face_and_keeps_full_images(photo, face):
    height, width = photo.shape[:2]
    crop = Framing.around(face, (width, height), 512)
    x0, y0, x1, y1 = crop.box
    assert x1 - x0 == y1 - y0 and 0 <= x0 and 0 <= y0 and x1 <= width and y1 <= height
    inside = crop.to_canvas(face)[:, :2]
    assert inside.min() > 0 and inside.max() < 512  # the whole face is on the canvas
    assert crop.canvas(photo).shape == (512, 512, 3)
    full = Framing.around(face, (width - 1, height - 1), 0)
    canvas = full.canvas(photo[:-1, :-1])
    assert canvas.shape[0] % 2 == 0 and canvas.shape[1] % 2 == 0
    assert np.array_equal(canvas[: height - 1, : width - 1], photo[:-1, :-1])
    assert np.array_equal(full.to_canvas(face), face)
    with pytest.raises(LimitError, match="4096"):
        Framing.around(face, (5000, 3000), 0)


def test_mesh_still_face_is_the_identity(framed):
    canvas, points = framed
    mesh = WarpMesh.build(points, (canvas.shape[1], canvas.shape[0]))
    maps = mesh.maps(np.zeros((478, 2), np.float32))
    x0, y0, x1, y1 = mesh.box
    grid = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1)
    assert np.abs(maps - grid).max() < 1e-3


def test_mesh_inverse_is_exact_and_background_stays(framed):
    canvas, points = framed
    mesh = WarpMesh.build(points, (canvas.shape[1], canvas.shape[0]))
    shift = jaw_drop(points, 12.0)
    angle = 0.06  # and a head roll about the nose
    c, s = np.cos(angle), np.sin(angle)
    pivot = points[4]
    rolled = (points + shift - pivot) @ np.array([[c, s], [-s, c]]) + pivot
    moved = mesh.from_landmarks @ (rolled - points).astype(np.float32)
    forward = _inverse_affines(mesh.source, mesh.source + moved, mesh.triangles)
    maps = mesh.maps(rolled - points)
    x0, y0, x1, y1 = mesh.box
    found = maps.reshape(-1, 2)
    col = np.clip(np.rint(found[:, 0]).astype(int) - x0, 0, x1 - x0 - 1)
    row = np.clip(np.rint(found[:, 1]).astype(int) - y0, 0, y1 - y0 - 1)
    a = forward[mesh.tri_map[row, col]]
    back = np.einsum("gij,gj->gi", a[:, :, :2], found) + a[:, :, 2]
    grid = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1).reshape(-1, 2)
    error = np.linalg.norm(back - grid, axis=1)
    mouth = cv2.fillPoly(
        np.zeros(canvas.shape[:2], np.uint8), [np.int32(rolled[list(tp.LIPS_INNER)])], 1
    )
    outside_mouth = cv2.dilate(mouth, np.ones((5, 5)))[y0:y1, x0:x1].ravel() == 0
    # warp(source of p) lands on p (the check rounds to a pixel's triangle: edges blur it)
    assert np.median(error[outside_mouth]) < 0.01
    assert np.percentile(error[outside_mouth], 97) < 0.5
    # far from the face nothing moves: the outer ring carries no motion
    oval = points[list(tp.FACE_OVAL)]
    reach = 2.2 * np.linalg.norm(oval - oval.mean(axis=0), axis=1).max()  # the outermost ring
    far = np.linalg.norm(grid - oval.mean(axis=0), axis=1) > reach
    assert far.sum() > 1000 and np.abs(found - grid)[far].max() < 0.05
    # the head turned: the forehead moved by the roll, about angle x distance to the pivot
    top = points[tp.FACE_OVAL[0]]
    expected = np.linalg.norm(top - pivot) * angle
    assert abs(np.linalg.norm(rolled[tp.FACE_OVAL[0]] - top) - expected) < 0.5


def test_animator_opens_the_mouth_and_closes_the_eyes(framed):
    canvas, points = framed
    animator = PortraitAnimator(canvas, points)
    still = animator.frame(points)
    assert np.abs(still.astype(int) - canvas).mean() < 0.5  # the photo itself, near enough
    opened = animator.frame(points + jaw_drop(points, 10.0))
    interior = cv2.fillPoly(
        np.zeros(canvas.shape[:2], np.uint8),
        [np.int32(points[list(tp.LIPS_INNER)] + jaw_drop(points, 10.0)[list(tp.LIPS_INNER)])],
        1,
    ).astype(bool)
    assert interior.sum() > 30
    # the new opening shows a cavity and teeth, not stretched lips: it is darker on average
    # than the lips in the photo and holds some bright (tooth) pixels
    luma = cv2.cvtColor(opened, cv2.COLOR_RGB2GRAY).astype(float)
    photo_luma = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY).astype(float)
    lips = cv2.fillPoly(
        np.zeros(canvas.shape[:2], np.uint8), [np.int32(points[list(tp.LIPS_OUTER)])], 1
    ).astype(bool)
    assert luma[interior].min() < 0.5 * photo_luma[lips].mean()
    assert luma[interior].max() > photo_luma[lips].mean()
    # a blink: upper lid onto the lower lid; the eye opening disappears
    closed = points.copy()
    for eye, _ in tp.EYES:
        upper, lower = list(eye[1:8]), list(eye[9:])[::-1]
        closed[upper] = closed[lower]
    blink = animator.frame(closed)
    for _, iris in tp.EYES:
        iris_at = np.int32(np.rint(points[iris[0]]))
        before = canvas[iris_at[1] - 1 : iris_at[1] + 2, iris_at[0] - 1 : iris_at[0] + 2]
        after = blink[iris_at[1] - 1 : iris_at[1] + 2, iris_at[0] - 1 : iris_at[0] + 2]
        assert after.mean() > before.mean() + 10  # the dark iris is covered by lid skin


def test_closed_lids_are_smooth_lid_skin(framed):
    canvas, points = framed
    animator = PortraitAnimator(canvas, points)
    closed = points.copy()
    for eye, _ in tp.EYES:
        upper, lower = list(eye[1:8]), list(eye[9:])[::-1]
        closed[upper] = closed[lower]
    blink = animator.frame(closed)
    for (eye, _), skin in zip(tp.EYES, animator.eyes.lid_skin, strict=True):
        opening = cv2.fillPoly(
            np.zeros(canvas.shape[:2], np.uint8), [np.int32(points[list(eye)])], 1
        )
        lid = blink[cv2.erode(opening, np.ones((3, 3), np.uint8)).astype(bool)].astype(float)
        # the colour of the skin above the lid, not the dark lashes and eye stretched over it
        assert np.abs(lid.mean(axis=0) - skin).max() < 40
        assert lid[:, 0].std() < 25  # smooth, not streaked
