"""The built-in head: geometry, the 52 shapes doing what their ARKit names say, symmetry,
plausible combinations."""

from __future__ import annotations

import numpy as np
import pytest

from emospeaker.channels import ARKIT_BLENDSHAPES, mirror
from emospeaker.face.anatomy import mirror_x
from emospeaker.face.head import build_head

MM = 0.001


@pytest.fixture(scope="module")
def head():
    return build_head()


def weights(**named: float) -> np.ndarray:
    w = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
    for name, value in named.items():
        w[ARKIT_BLENDSHAPES.index(name)] = value
    return w


def moved(head, name: str, landmark: str, **extra: float) -> np.ndarray:
    """Displacement (metres) of a named landmark under one shape at weight 1 (plus extras)."""
    v = head.deform(weights(**{name: 1.0}, **extra))
    base = head.deform(weights(**extra))
    return head.landmark(landmark, v) - head.landmark(landmark, base)


def vertex_near(head, point, part: str = "skin") -> int:
    ids = head.mesh.part_ids(part)
    front = ids[head.neutral[ids, 2] > -0.02]
    d = np.linalg.norm(head.neutral[front, :2] - np.asarray(point)[:2], axis=1)
    return int(front[np.argmin(d)])


def test_head_has_every_part_and_a_clean_mesh(head):
    names = {p.name for p in head.mesh.parts}
    assert {"skin", "eyeLeft", "eyeRight", "teethUpper", "teethLower", "tongue"} <= names
    assert {"mouthCavity", "neck"} <= names
    v, f = head.mesh.vertices, head.mesh.faces
    assert np.isfinite(v).all() and f.min() >= 0 and f.max() < len(v)
    assert head.deltas.shape == (52, len(v), 3) and np.isfinite(head.deltas).all()
    # a head-sized bust: about 15 cm wide, eyes 64 mm apart
    width = v[head.mesh.part_ids("skin"), 0].ptp()
    assert 0.13 < width < 0.17
    eyes = head.landmark("pupilLeft") - head.landmark("pupilRight")
    assert eyes[0] == pytest.approx(0.064, abs=0.002)


def test_one_sided_faces_are_outward_shells(head):
    """Renderers skip the back faces of `one_sided` faces, so those must be shells wound
    outward; sheets seen from both sides (inner lips and lids, teeth, ears, ...) must not be."""
    mesh, v = head.mesh, head.mesh.vertices
    for part in mesh.parts:
        chosen = np.zeros(len(mesh.faces), bool)
        chosen[part.faces] = True
        chosen &= mesh.one_sided
        if part.name not in ("skin", "eyeLeft", "eyeRight"):
            assert not chosen.any(), part.name
            continue
        f = mesh.faces[chosen]
        normal = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        away = np.einsum("ij,ij->i", normal, v[f].mean(axis=1) - v[part.vertices].mean(axis=0))
        assert (away > 0).mean() > 0.99, part.name
    inner = [
        ids
        for name, ids in mesh.groups.items()
        if name.startswith(("mouthUpper", "mouthLower", "eye")) and not name.endswith("Edge")
    ]
    assert not mesh.one_sided[np.isin(mesh.faces, np.concatenate(inner)).any(axis=1)].any()


def test_named_landmarks_sit_where_their_names_say(head):
    at = head.landmark
    assert at("noseTip")[2] > at("upperLipCenter")[2] > at("chin")[2] - 0.01
    assert at("forehead")[1] > at("browInnerLeft")[1] > at("pupilLeft")[1] > at("noseTip")[1]
    assert at("noseTip")[1] > at("upperLipCenter")[1] > at("chin")[1]
    for side, sign in (("Left", 1), ("Right", -1)):
        for name in ("eyeOuterCorner", "mouthCorner", "cheek", "browOuter", "pupil"):
            assert sign * at(name + side)[0] > 0.01, name + side
        assert sign * (at(f"eyeOuterCorner{side}")[0] - at(f"eyeInnerCorner{side}")[0]) > 0.02
        assert at(f"upperLid{side}")[1] - at(f"lowerLid{side}")[1] > 0.007  # eyes open


def test_mouth_is_closed_and_opens_onto_an_inner_mouth(head):
    # the lips touch at rest: their edge copies coincide
    upper = head.neutral[head.mesh.groups["mouthUpperEdge"]]
    lower = head.neutral[head.mesh.groups["mouthLowerEdge"]]
    assert np.abs(upper - lower).max() < 1e-9
    open_ = head.deform(weights(jawOpen=1.0))
    gap = head.landmark("upperLipCenter", open_)[1] - head.landmark("lowerLipCenter", open_)[1]
    assert gap > 20 * MM
    # behind the opening: teeth and tongue move with the jaw, the upper teeth do not
    lower_teeth = head.mesh.part_ids("teethLower")
    assert np.all(open_[lower_teeth, 1] < head.neutral[lower_teeth, 1] - 5 * MM)
    upper_teeth = head.mesh.part_ids("teethUpper")
    assert np.abs(open_[upper_teeth] - head.neutral[upper_teeth]).max() < 1e-6


# (shape, landmark, axis, minimum signed displacement in mm) for shapes on named landmarks
EXPECTED = [
    ("jawOpen", "chin", 1, -15),
    ("jawOpen", "lowerLipCenter", 1, -15),
    ("jawForward", "chin", 2, 4),
    ("jawLeft", "chin", 0, 3),
    ("eyeLookUpLeft", "pupilLeft", 1, 3),
    ("eyeLookDownLeft", "pupilLeft", 1, -3),
    ("eyeLookInLeft", "pupilLeft", 0, -3),  # towards the nose
    ("eyeLookOutLeft", "pupilLeft", 0, 3),
    ("eyeSquintLeft", "lowerLidLeft", 1, 0.8),
    ("eyeWideLeft", "upperLidLeft", 1, 1.0),
    ("mouthSmileLeft", "mouthCornerLeft", 1, 4),
    ("mouthSmileLeft", "mouthCornerLeft", 0, 3),
    ("mouthFrownLeft", "mouthCornerLeft", 1, -3),
    ("mouthDimpleLeft", "mouthCornerLeft", 2, -2.5),
    ("mouthStretchLeft", "mouthCornerLeft", 0, 3),
    ("mouthStretchLeft", "mouthCornerLeft", 1, -1.5),
    ("mouthLeft", "upperLipCenter", 0, 4),
    ("mouthPucker", "mouthCornerLeft", 0, -4),
    ("mouthPucker", "upperLipCenter", 2, 4),
    ("mouthFunnel", "upperLipCenter", 2, 4),
    ("mouthFunnel", "upperLipCenter", 1, 2),
    ("mouthFunnel", "lowerLipCenter", 1, -2),
    ("mouthRollLower", "lowerLipCenter", 2, -3),
    ("mouthRollUpper", "upperLipCenter", 2, -3),
    ("mouthShrugLower", "lowerLipCenter", 1, 2),
    ("mouthShrugUpper", "upperLipCenter", 1, 1.5),
    ("browDownLeft", "browInnerLeft", 1, -2),
    ("browInnerUp", "browInnerLeft", 1, 4),
    ("browInnerUp", "browInnerRight", 1, 4),
    ("browOuterUpLeft", "browOuterLeft", 1, 4),
    ("cheekSquintLeft", "cheekLeft", 1, 2),
]


@pytest.mark.parametrize("shape, landmark, axis, minimum", EXPECTED)
def test_shape_moves_its_landmark_the_way_its_name_says(head, shape, landmark, axis, minimum):
    d = moved(head, shape, landmark)[axis] / MM
    assert (d >= minimum) if minimum > 0 else (d <= minimum), f"{shape}: {landmark} moved {d} mm"


def test_cheek_puff_inflates_both_cheeks(head):
    for sign in (1, -1):
        cheek = vertex_near(head, (sign * 0.040, -0.066))
        d = head.deltas[ARKIT_BLENDSHAPES.index("cheekPuff"), cheek]
        assert sign * d[0] > 4 * MM


def eye_gap(head, vertices: np.ndarray, side: str) -> float:
    """Smallest vertical opening between the lid margins across the middle of the eye."""
    up = vertices[head.mesh.groups[f"eye{side}UpperEdge"]]
    lo = vertices[head.mesh.groups[f"eye{side}LowerEdge"]]
    middle = slice(len(up) // 4, 3 * len(up) // 4)
    return float(np.max(up[middle, 1] - lo[middle, 1]))


def test_blink_closes_one_eye_and_gaze_turns_the_iris(head):
    blink = head.deform(weights(eyeBlinkLeft=1.0))
    assert eye_gap(head, blink, "Left") < 1.0 * MM
    assert eye_gap(head, blink, "Right") == pytest.approx(eye_gap(head, head.neutral, "Right"))
    # gaze rotates the eyeball rigidly about its centre
    look = head.deform(weights(eyeLookUpLeft=1.0))
    eye = head.mesh.part_ids("eyeLeft")
    centre = np.array([0.032, 0.0, 0.0])
    r0 = np.linalg.norm(head.neutral[eye] - centre, axis=1)
    r1 = np.linalg.norm(look[eye] - centre, axis=1)
    assert np.abs(r1 - r0).max() < 0.2 * MM  # linear blendshapes: a chord, nearly the arc


def test_side_shapes_act_on_their_own_side(head):
    x = head.neutral[:, 0]
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        if not name.endswith(("Left", "Right")) or name.startswith(("jaw", "mouthLeft", "mouthR")):
            continue  # jawLeft, mouthRight, ...: a direction, tested with the landmarks
        size = np.linalg.norm(head.deltas[i], axis=1)
        own = (x > 0.005) if name.endswith("Left") else (x < -0.005)
        other = (x < -0.005) if name.endswith("Left") else (x > 0.005)
        assert size[own].sum() > 3 * size[other].sum(), name


def test_right_shapes_mirror_left_shapes_exactly(head):
    image = head.mirror
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        twin = ARKIT_BLENDSHAPES.index(mirror(name))
        np.testing.assert_allclose(
            head.deltas[i], mirror_x(head.deltas[twin][image]), atol=1e-7, err_msg=name
        )


def test_every_shape_moves_the_face_visibly_but_not_wildly(head):
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        biggest = np.linalg.norm(head.deltas[i], axis=1).max()
        assert 1.5 * MM < biggest < 55 * MM, f"{name}: moves at most {biggest / MM:.1f} mm"


def flipped_fraction(head, w: np.ndarray) -> float:
    """Share of skin triangles whose facing turns by more than 90 degrees (folds)."""
    part = head.mesh.part("skin")
    faces = head.mesh.faces[part.faces]

    def normals(v):
        return np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])

    n0, n1 = normals(head.neutral), normals(head.deform(w))
    return float(np.mean(np.sum(n0 * n1, axis=1) < 0))


def test_combinations_stay_plausible(head):
    # jawOpen + smile: the mouth stays open and its corners rise above jawOpen's
    both = weights(jawOpen=1, mouthSmileLeft=1, mouthSmileRight=1)
    v = head.deform(both)
    assert head.landmark("upperLipCenter", v)[1] - head.landmark("lowerLipCenter", v)[1] > 15 * MM
    jaw_only = head.deform(weights(jawOpen=1))
    rise = head.landmark("mouthCornerLeft", v)[1] - head.landmark("mouthCornerLeft", jaw_only)[1]
    assert rise > 4 * MM
    # blink + cheek squint: closed, the upper lid not pushed far through the lower
    v = head.deform(weights(eyeBlinkLeft=1, cheekSquintLeft=1))
    assert -1.5 * MM < eye_gap(head, v, "Left") < 1.0 * MM
    for w in (both, weights(eyeBlinkLeft=1, cheekSquintLeft=1, eyeSquintLeft=1)):
        assert flipped_fraction(head, w) < 0.003


def test_random_combinations_do_not_fold_the_skin(head):
    rng = np.random.default_rng(7)
    for _ in range(6):
        w = np.zeros(52, np.float32)
        chosen = rng.choice(52, size=6, replace=False)
        w[chosen] = rng.uniform(0.3, 1.0, size=6)
        assert flipped_fraction(head, w) < 0.005, [ARKIT_BLENDSHAPES[i] for i in chosen]
