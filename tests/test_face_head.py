"""The built-in head: ICT FaceKit's model shipped in the package, its 52 ARKit channels, the
painted head the previews draw, and what the preview shows of it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

from emospeaker.channels import ARKIT_BLENDSHAPES
from emospeaker.face.anatomy import HEAD_PIVOT
from emospeaker.face.head import build_head
from emospeaker.face.model import ASSET_DIR, load_face_model
from emospeaker.render.preview import HeadRenderer

SIZE = 256
MARK = np.array([0.0, 1.0, 0.0])  # a colour no part of the head has: pure green


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def weights(**named: float) -> np.ndarray:
    w = np.zeros(len(ARKIT_BLENDSHAPES))
    for name, value in named.items():
        w[ARKIT_BLENDSHAPES.index(name)] = value
    return w


def test_the_asset_ships_in_the_package_with_its_licence(tmp_path):
    """A fresh clone has no ../shared: the model loads from the package alone (a separate
    process, started away from the checkout, with nothing but the package on its path)."""
    assert (ASSET_DIR / "LICENSE").read_text().startswith("MIT")
    assert "da5f95a" in (ASSET_DIR / "SOURCE.md").read_text()
    assert sum(f.stat().st_size for f in ASSET_DIR.iterdir()) < 15e6
    code = (
        "from emospeaker.face.model import load_face_model as f; m = f(); "
        "print(len(m.vertices), m.deltas.shape, m.identities.shape)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 20000 and out[1] == "(52,"


def test_every_channel_moves_the_face(model):
    peak = np.linalg.norm(model.deltas, axis=2).max(axis=1)  # metres, per channel
    moving = {name: p for name, p in zip(ARKIT_BLENDSHAPES, peak, strict=True)}
    assert min(moving.values()) > 1e-3, min(moving, key=moving.get)
    assert moving["jawOpen"] > 0.02 and moving["eyeBlinkLeft"] > 0.01
    # the summed halves move both sides
    for name in ("browInnerUp", "cheekPuff"):
        x = model.vertices[:, 0]
        side = np.linalg.norm(model.deltas[ARKIT_BLENDSHAPES.index(name)], axis=1)
        assert side[x > 0.01].max() > 1e-3 and side[x < -0.01].max() > 1e-3, name


def test_left_and_right_channels_mirror_each_other(model):
    """Each *Left channel, reflected across the face's midline, is its *Right channel (ICT's
    scans are not perfectly symmetric: within 15% of the shape's size)."""
    flip = np.array([-1.0, 1.0, 1.0])
    distance, mirror = cKDTree(model.vertices).query(model.vertices * flip)
    assert np.percentile(distance, 99) < 1e-4  # the mesh itself is symmetric
    for left in (n for n in ARKIT_BLENDSHAPES if n.endswith("Left")):
        right = left.removesuffix("Left") + "Right"
        shape = model.deltas[ARKIT_BLENDSHAPES.index(right)]
        mirrored = model.deltas[ARKIT_BLENDSHAPES.index(left)][mirror] * flip
        error = np.linalg.norm(mirrored - shape) / np.linalg.norm(shape)
        assert error < 0.15, (left, error)
        # and a side channel acts on its own side: the character's left is +x
        moved = np.linalg.norm(model.deltas[ARKIT_BLENDSHAPES.index(left)], axis=1)
        if left not in ("jawLeft", "mouthLeft"):  # sideways moves, not halves
            assert np.average(model.vertices[:, 0], weights=moved) > 0.01, left


def test_tongue_out_moves_only_the_tongue_and_out_of_the_mouth(model):
    shape = model.deltas[ARKIT_BLENDSHAPES.index("tongueOut")]
    moved = np.flatnonzero(np.linalg.norm(shape, axis=1) > 1e-5)
    assert set(moved) <= set(model.part_ids("tongue"))
    lips_front = model.vertices[model.landmarks68[[51, 57]], 2].max()
    tip = (model.vertices + shape)[moved]
    assert tip[:, 2].max() > lips_front + 0.008  # past the lips
    stomion = model.vertices[model.landmarks68[[62, 66]], 1].mean()
    out = tip[tip[:, 2] > lips_front]
    assert out[:, 1].max() < stomion  # under the upper lip, not through it


def test_head_paints_lips_redder_than_the_skin():
    head = build_head()
    lips = head.colors[head.model.landmarks68[[51, 57]]]
    cheek = head.colors[head.model.landmarks68[[2, 14]]]
    redness = lambda c: c[:, 0] / c[:, 1]  # noqa: E731
    assert redness(lips).min() > 1.3 * redness(cheek).max()


def marked(*materials: str):
    """The head with the named materials painted MARK (to find them in a render)."""
    head = build_head()
    model = head.model
    ids = np.unique(
        model.triangles[
            np.isin(model.triangle_material, [model.material_names.index(m) for m in materials])
        ]
    )
    colors = head.colors.copy()
    colors[ids] = MARK
    return dataclasses.replace(head, colors=colors)


def marked_pixels(image: np.ndarray) -> float:
    """Share of the image in the marked colour (green, lit: high G, low R and B)."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return float(np.mean((g > 60) & (g > 3 * r) & (g > 3 * b)))


def test_preview_shows_a_face_and_the_irises():
    with HeadRenderer(SIZE, "face", marked("iris")) as renderer:
        image = renderer.frame(np.zeros(52))
        closed = renderer.frame(weights(eyeBlinkLeft=1, eyeBlinkRight=1))
    background = image[2, 2].astype(int)
    assert np.mean(np.abs(image.astype(int) - background).sum(-1) > 30) > 0.4  # a face
    assert marked_pixels(image) > 0.002  # the irises show (the cornea does not hide them)
    assert marked_pixels(closed) < 0.05 * marked_pixels(image)  # the lids cover them


def test_open_mouth_shows_teeth_and_the_mouth_inside():
    for parts in (("teeth",), ("mouth", "gums", "tongue", "teeth")):
        with HeadRenderer(SIZE, "face", marked(*parts)) as renderer:
            shut = marked_pixels(renderer.frame(np.zeros(52)))
            opened = marked_pixels(renderer.frame(weights(jawOpen=1.0)))
        # (ICT's neutral lips part a little: a sliver of teeth shows)
        assert opened > 0.001 and opened > 4 * shut, parts


def test_pose_turns_the_head_and_half_turns_the_shoulders():
    from emospeaker.face.pose import head_rotation

    head = build_head()
    v = head.vertices
    turned = head.pose(v, np.array([0.0, 0.4, 0.0, 0.0, 0.0, 0.0]))
    top, shoulder = np.argmax(v[:, 1]), np.argmin(v[:, 1])
    pivot = HEAD_PIVOT
    for vertex, share in ((top, 1.0), (shoulder, 0.5)):
        expected = head_rotation([0.0, 0.4 * share, 0.0]) @ (v[vertex] - pivot) + pivot
        np.testing.assert_allclose(turned[vertex], expected, atol=1e-5)
    # and nothing tears: the neck stretches as it twists, no edge by over a quarter
    edges = head.triangles[:, [0, 1]]
    before = np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)
    after = np.linalg.norm(turned[edges[:, 0]] - turned[edges[:, 1]], axis=1)
    assert np.max(after / np.maximum(before, 1e-6)) < 1.25
