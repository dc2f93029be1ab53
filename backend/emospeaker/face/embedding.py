"""MediaPipe's 478 face-mesh landmarks embedded in the face model's (ICT FaceKit's) surface.

The mean ICT face is rendered (pyrender, OSMesa) from the front and from a few yaw and pitch
angles; MediaPipe finds its landmarks in each view, and each landmark is cast along the view
direction onto the surface. A landmark's place is the average of its hits over the views, each
weighted by how squarely that view sees the surface there (MediaPipe guesses points it sees
edge-on), snapped back onto the surface as a point on a triangle (three vertex ids, three
barycentric weights).

Points of the lips' and lids' contours may only land on their own side of the slit (ICT's
neutral has closed lips and nearly closed lids, so both sides meet there): the upper side is
what `jawOpen` (lips) or `eyeBlink*` (lids) leaves in place. Iris points land on their own
eyeball, every other point on the skin of the face.

`scripts/make_face_model.py` runs this and stores the result in face/data/.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..channels import ARKIT_BLENDSHAPES
from ..errors import EmoSpeakerError
from .landmarks import NUM_LANDMARKS, detect_faces
from .model import FaceModel
from .pose import head_rotation

RENDER_SIZE = 768
VIEW_CENTRE = np.array([0.0, -0.035])  # (x, y) of the face frame at the image centre (metres)
VIEW_HALF = 0.125  # half the rendered width and height (metres)
# (pitch, yaw) of the views, degrees: the front, turned both ways, tilted up and down
VIEWS = ((0, 0), (0, -15), (0, 15), (0, -30), (0, 30), (-12, 0), (12, 0))
COLOURS = {  # linear RGBA of the materials: enough for MediaPipe to see a face
    "skin": (0.80, 0.55, 0.45, 1.0),
    "iris": (0.90, 0.88, 0.85, 1.0),  # the eyeball (painted by `_eye_colours`)
    "mouth": (0.35, 0.08, 0.08, 1.0),
    "gums": (0.60, 0.25, 0.25, 1.0),
    "tongue": (0.60, 0.25, 0.25, 1.0),
    "teeth": (0.90, 0.88, 0.80, 1.0),
}
BROW_COLOUR = (0.18, 0.12, 0.08, 1.0)
BROW_SPAN = (0.012, 0.060)  # |x| of the brows' inner and outer ends (metres)
BROW_HEIGHT, BROW_ARCH, BROW_WIDTH = 0.0150, 0.0045, 0.0075  # y at the ends, arch, thickness
SHAPE_VIEWS = ((0, 0), (0, -20), (0, 20))  # views that measure each channel's landmark motion
SHAPE_AMOUNTS = (0.5, 1.0)  # channel weights rendered for it
SHAPE_SIZE = 512
IRIS_ANGLE, PUPIL_ANGLE = 0.55, 0.22  # half-angles seen from the eyeball's centre (radians)
IRIS_RIGHT = range(468, 473)  # the subject's right iris (image left, -x)
IRIS_LEFT = range(473, 478)


@dataclass(frozen=True)
class Embedding:
    vertex_ids: np.ndarray  # [478, 3] the triangle each landmark lies on
    barycentric: np.ndarray  # [478, 3] its weights
    detected: np.ndarray  # [478, 3] MediaPipe's frontal landmarks in the face frame (z: its own)
    spread_mm: np.ndarray  # [478] weighted RMS distance of the views' hits from their mean


def render_view(
    model: FaceModel,
    pitch: float,
    yaw: float,
    size: int = RENDER_SIZE,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """An RGB uint8 image [size, size, 3] of the mean face (with ARKit `weights` [52], if
    given) turned by (pitch, yaw) radians, orthographic, the face frame's (x, y) =
    VIEW_CENTRE at the centre."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    import pyrender
    import trimesh

    shaped = model.vertices if weights is None else model.deform(weights)
    vertices = shaped @ head_rotation([pitch, yaw, 0.0]).T
    scene = pyrender.Scene(bg_color=(0.25, 0.27, 0.30, 1.0), ambient_light=(0.35, 0.35, 0.35))
    for triangles, colour in _coloured_triangles(model):
        mesh = trimesh.Trimesh(vertices, triangles, process=False)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=colour, roughnessFactor=0.7, metallicFactor=0.0
        )
        scene.add(pyrender.Mesh.from_trimesh(mesh, material=material, smooth=True))
    pose = np.eye(4)
    pose[:3, 3] = (*VIEW_CENTRE, 0.5)
    scene.add(pyrender.OrthographicCamera(VIEW_HALF, VIEW_HALF, znear=0.05, zfar=1.0), pose=pose)
    light = np.eye(4)
    light[:3, :3] = head_rotation([-0.35, 0.25, 0.0]).T  # from above, a little to the side
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=light)
    renderer = pyrender.OffscreenRenderer(size, size)
    try:
        colour, _ = renderer.render(scene)
    finally:
        renderer.delete()
    return colour


def _coloured_triangles(model: FaceModel) -> list[tuple[np.ndarray, tuple]]:
    """(triangles, RGBA) to draw: the materials of COLOURS, with the eyeballs' inner sphere
    split into white, a brown iris and a black pupil looking along +z (ICT ships its eyeballs
    plain; the clear cornea, material "sclera", is left out)."""
    out = []
    for name, colour in COLOURS.items():
        triangles = model.material_triangles(name)
        if name == "skin":
            brow = _on_brow(model, triangles)
            out.append((triangles[~brow], colour))
            out.append((triangles[brow], BROW_COLOUR))
            continue
        if name != "iris":
            out.append((triangles, colour))
            continue
        angle = np.full(len(model.vertices), np.pi)
        for side in ("left", "right"):
            ids = model.part_ids(f"eyeball_{side}")
            offset = model.vertices[ids] - eyeball_centre(model, side)
            angle[ids] = np.arccos(np.clip(offset[:, 2] / np.linalg.norm(offset, axis=1), -1, 1))
        seen = angle[triangles].mean(axis=1)
        out.append((triangles[seen >= IRIS_ANGLE], colour))
        out.append((triangles[(seen < IRIS_ANGLE) & (seen >= PUPIL_ANGLE)], (0.22, 0.13, 0.07, 1)))
        out.append((triangles[seen < PUPIL_ANGLE], (0.02, 0.02, 0.02, 1.0)))
    return [(t, c) for t, c in out if len(t)]


def _on_brow(model: FaceModel, triangles: np.ndarray) -> np.ndarray:
    """Boolean [T]: skin triangles inside a painted eyebrow (ICT's scan has no hair; MediaPipe
    places the brow landmarks on the brows, so a render needs them to be seen)."""
    centre = model.vertices[triangles].mean(axis=1)
    reach = (np.abs(centre[:, 0]) - BROW_SPAN[0]) / (BROW_SPAN[1] - BROW_SPAN[0])  # 0 inner
    middle = BROW_HEIGHT + BROW_ARCH * np.sin(np.pi * np.clip(reach, 0, 1))
    half = BROW_WIDTH / 2 * (1 - 0.5 * np.clip(reach, 0, 1))  # tapering outwards
    inside = (reach >= 0) & (reach <= 1) & (np.abs(centre[:, 1] - middle) < half)
    return inside & (centre[:, 2] > 0) & np.isin(triangles, model.part_ids("face")).all(axis=1)


def eyeball_centre(model: FaceModel, side: str) -> np.ndarray:
    """Centre [3] of the 'left' or 'right' eyeball (the mean of its inner, iris sphere)."""
    ids = model.part_ids(f"eyeball_{side}")
    iris = np.unique(model.material_triangles("iris"))
    return model.vertices[np.intersect1d(ids, iris)].mean(axis=0)


def pixels_to_view(px: np.ndarray, size: int = RENDER_SIZE) -> np.ndarray:
    """MediaPipe's pixels [P, 3] of a `render_view` image -> (x, y) [P, 2] of the view frame."""
    metres = 2 * VIEW_HALF / size
    x = VIEW_CENTRE[0] + (px[:, 0] - size / 2) * metres
    y = VIEW_CENTRE[1] - (px[:, 1] - size / 2) * metres
    return np.stack([x, y], -1)


def _mediapipe_sides() -> dict[int, str]:
    """Landmark id -> 'lipUpper'/'lipLower'/'lidUpperL'/... for the slits' contour points;
    found by walking each contour from a known upper/lower point, never past a corner."""
    from mediapipe.python.solutions import face_mesh_connections as c

    def split(connections, seeds: dict[str, set[int]], corners: set[int]) -> dict[int, str]:
        neighbours: dict[int, set[int]] = {}
        for a, b in connections:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        side: dict[int, str] = {}
        for name, start in seeds.items():
            frontier = list(start)
            while frontier:
                node = frontier.pop()
                if node in side or node in corners:
                    continue
                side[node] = name
                frontier.extend(neighbours[node])
        return side

    lips = split(c.FACEMESH_LIPS, {"lipUpper": {0, 13}, "lipLower": {17, 14}}, {61, 291, 78, 308})
    right = split(c.FACEMESH_RIGHT_EYE, {"lidUpperR": {159}, "lidLowerR": {145}}, {33, 133})
    left = split(c.FACEMESH_LEFT_EYE, {"lidUpperL": {386}, "lidLowerL": {374}}, {263, 362})
    return {**lips, **right, **left}


def candidate_triangles(model: FaceModel) -> dict[str, np.ndarray]:
    """Triangles [T, 3] each kind of landmark may land on (see the module docstring)."""
    tri = model.triangles
    face = np.zeros(len(model.vertices), bool)
    face[model.part_ids("face")] = True
    skin = tri[face[tri].all(axis=1)]

    def moving(channels: tuple[str, ...]) -> np.ndarray:
        """Vertices that move by more than a third of the most any vertex moves."""
        motion = sum(
            np.linalg.norm(model.deltas[ARKIT_BLENDSHAPES.index(n)], axis=1) for n in channels
        )
        return motion > motion.max() / 3

    iris = model.material_triangles("iris")
    jaw = moving(("jawOpen",))
    blink = {s: moving((f"eyeBlink{s}",)) for s in ("Left", "Right")}
    out = {
        "skin": skin,
        "lipUpper": skin[~jaw[skin].any(axis=1)],
        "lipLower": skin[jaw[skin].all(axis=1)],
    }
    for s in ("Left", "Right"):
        moved = blink[s][skin]
        out[f"lidUpper{s[0]}"] = skin[moved.all(axis=1)]
        side = np.sign(model.vertices[skin[:, 0], 0]) == (1 if s == "Left" else -1)
        out[f"lidLower{s[0]}"] = skin[~moved.any(axis=1) & side]
        eyeball = tri[np.isin(tri, model.part_ids(f"eyeball_{s.lower()}")).all(1)]
        out[f"iris{s[0]}"] = eyeball[np.isin(eyeball, np.unique(iris)).all(1)]
    return out


MOUTH_CORNERS = (61, 291, 78, 308)


def slit_landmarks() -> np.ndarray:
    """Boolean [478]: the landmarks on the lips' contours and the mouth's corners, which
    MediaPipe keeps on the lips' edge as the mouth opens (sliding over the skin as the lips
    part and roll). The lids' contours stay on their margin, which is where ICT's shapes
    move them, so they are not among them."""
    mask = np.zeros(NUM_LANDMARKS, bool)
    lips = [i for i, side in _mediapipe_sides().items() if side.startswith("lip")]
    mask[lips] = True
    mask[list(MOUTH_CORNERS)] = True
    return mask


def landmark_kinds() -> list[str]:
    """The candidate set (a key of `candidate_triangles`) of each of the 478 landmarks."""
    sides = _mediapipe_sides()
    kinds = [sides.get(i, "skin") for i in range(NUM_LANDMARKS)]
    for i in IRIS_RIGHT:
        kinds[i] = "irisR"
    for i in IRIS_LEFT:
        kinds[i] = "irisL"
    return kinds


def cast(
    vertices: np.ndarray, xy: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cast points (x, y) [P, 2] along -z onto the frontmost of `triangles` [T, 3] (vertex ids
    into `vertices` [N, 3]); a point that misses them all takes the nearest triangle's closest
    point in the x-y plane. Returns (triangle rows [P], barycentric weights [P, 3])."""
    from scipy.spatial import cKDTree

    corners = vertices[triangles]  # [T, 3, 3]
    _, near = cKDTree(corners[:, :, :2].mean(axis=1)).query(xy, k=min(48, len(triangles)))
    a, b, c = (corners[near][..., k, :2] for k in range(3))  # [P, K, 2]
    v0, v1, v2 = b - a, c - a, xy[:, None, :] - a
    d00, d01, d11 = (v0 * v0).sum(-1), (v0 * v1).sum(-1), (v1 * v1).sum(-1)
    d20, d21 = (v2 * v0).sum(-1), (v2 * v1).sum(-1)
    denom = np.where(np.abs(d00 * d11 - d01 * d01) < 1e-20, 1e-20, d00 * d11 - d01 * d01)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    bary = np.stack([1 - v - w, v, w], -1)  # [P, K, 3]
    inside = (bary >= -1e-9).all(-1)
    depth = np.einsum("pkj,pkj->pk", bary, corners[near][..., 2])
    # outside: how far outside (sum of negative weights), a stand-in for the in-plane distance
    score = np.where(inside, depth, -1e3 - np.clip(-bary, 0, None).sum(-1))
    best = np.argmax(score, axis=1)
    rows = np.arange(len(xy))
    chosen = np.clip(bary[rows, best], 0, None)
    return near[rows, best], chosen / chosen.sum(-1, keepdims=True)


def snap(
    vertices: np.ndarray, points: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The closest surface point of `triangles` to each of `points` [P, 3]:
    (vertex ids [P, 3], barycentric weights [P, 3])."""
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point, points_to_barycentric

    corners = vertices[triangles]
    k = min(32, len(triangles))
    _, near = cKDTree(corners.mean(axis=1)).query(points, k=k)
    flat = near.ravel()
    closest = closest_point(corners[flat], np.repeat(points, k, axis=0)).reshape(-1, k, 3)
    best = np.argmin(np.linalg.norm(closest - points[:, None], axis=-1), axis=1)
    rows = np.arange(len(points))
    tri = near[rows, best]
    bary = points_to_barycentric(corners[tri], closest[rows, best])
    bary = np.clip(bary, 0, None)
    return triangles[tri], bary / bary.sum(-1, keepdims=True)


def _normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    n = np.cross(*(vertices[triangles[:, k]] - vertices[triangles[:, 0]] for k in (1, 2)))
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-20)


def _outward(model: FaceModel, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [T, 3] (face frame) pointing out of the surface; ICT winds the eyeballs'
    inner sphere inwards, so normals there are turned to point away from the eye's centre."""
    normals = _normals(model.vertices, triangles)
    for side in ("left", "right"):
        on_eye = np.isin(triangles[:, 0], model.part_ids(f"eyeball_{side}"))
        out = model.vertices[triangles[on_eye]].mean(axis=1) - eyeball_centre(model, side)
        flip = np.sign(np.sum(normals[on_eye] * out, axis=1))
        normals[on_eye] *= np.where(flip == 0, 1, flip)[:, None]
    return normals


class _Observer:
    """Renders the face model in one view, lets MediaPipe find the landmarks and casts them
    onto the surface under each landmark's rules: MediaPipe's view of the face as points of
    the face frame."""

    def __init__(self, model: FaceModel, pitch_deg: float, yaw_deg: float, size: int) -> None:
        self.model, self.size = model, size
        self.angles = np.radians([pitch_deg, yaw_deg])
        self.rotation = head_rotation([*self.angles, 0.0])
        self.kinds = np.array(landmark_kinds())
        candidates = candidate_triangles(model)
        self.candidates = {  # the side of each candidate set that this view sees
            kind: tris[_outward(model, tris) @ self.rotation[2] > 0]
            for kind, tris in candidates.items()
        }

    def __call__(self, weights: np.ndarray | None = None):
        """(points [478, 3] in the face frame, trust [478], MediaPipe's pixels [478, 3]) of the
        face with ARKit `weights`, or None where MediaPipe finds no face."""
        faces = detect_faces(
            render_view(self.model, *self.angles, size=self.size, weights=weights), max_faces=1
        )
        if not faces:
            return None
        xy = pixels_to_view(faces[0], self.size)
        shaped = self.model.vertices if weights is None else self.model.deform(weights)
        turned = shaped @ self.rotation.T
        hits = np.zeros((NUM_LANDMARKS, 3))
        trust = np.zeros(NUM_LANDMARKS)
        for kind, tris in self.candidates.items():
            members = np.flatnonzero(self.kinds == kind)
            if not len(members):
                continue
            rows, bary = cast(turned, xy[members], tris)
            hits[members] = np.einsum("pk,pkd->pd", bary, shaped[tris[rows]])
            facing = _outward(self.model, tris[rows]) @ self.rotation[2]  # towards the camera
            trust[members] = np.clip(facing, 0.05, None) ** 2
        return hits, trust, faces[0]


def embed(model: FaceModel, views=VIEWS, log=print) -> Embedding:
    """Render, detect and cast in every view, then average (see the module docstring)."""
    candidates = candidate_triangles(model)
    kinds = np.array(landmark_kinds())
    hits = np.zeros((len(views), NUM_LANDMARKS, 3))
    trust = np.zeros((len(views), NUM_LANDMARKS))
    detected = None
    for v, (pitch_deg, yaw_deg) in enumerate(views):
        seen = _Observer(model, pitch_deg, yaw_deg, RENDER_SIZE)()
        if seen is None:
            log(f"view pitch {pitch_deg} yaw {yaw_deg}: MediaPipe found no face, skipped")
            continue
        hits[v], trust[v], pixels = seen
        if (pitch_deg, yaw_deg) == (0, 0):
            metres = 2 * VIEW_HALF / RENDER_SIZE
            detected = np.concatenate([pixels_to_view(pixels), -pixels[:, 2:] * metres], axis=1)
            detected[:, 2] += np.mean(hits[v, :, 2] - detected[:, 2])
        log(f"view pitch {pitch_deg:+d} yaw {yaw_deg:+d}: {NUM_LANDMARKS} landmarks cast")
    if detected is None:
        raise EmoSpeakerError("MediaPipe found no face on the frontal render of the face model")
    mean = np.einsum("vp,vpd->pd", trust, hits) / trust.sum(0)[:, None]
    spread = np.sqrt(np.einsum("vp,vp->p", trust, ((hits - mean) ** 2).sum(-1)) / trust.sum(0))
    ids = np.zeros((NUM_LANDMARKS, 3), np.int64)
    weights = np.zeros((NUM_LANDMARKS, 3))
    for kind in np.unique(kinds):
        members = np.flatnonzero(kinds == kind)
        ids[members], weights[members] = snap(model.vertices, mean[members], candidates[kind])
    return Embedding(ids, weights, detected, spread * 1000.0)


def observed_deltas(
    model: FaceModel, views=SHAPE_VIEWS, amounts=SHAPE_AMOUNTS, log=print
) -> np.ndarray:
    """[52, 478, 3]: how far MediaPipe's landmarks move (face frame) when the face performs
    each ARKit channel, as a line through the origin fitted to the channel at `amounts`,
    averaged over `views`. Where a landmark's surface point stays under the landmark (the
    nose, the brows) this is ICT's delta there; where MediaPipe's landmark slides over the
    surface (the lips' and lids' contours follow the slit as it opens) it is the slide, which
    sampling ICT at a fixed point would miss. NaN for a channel MediaPipe lost in every view."""
    total = np.zeros((len(ARKIT_BLENDSHAPES), NUM_LANDMARKS, 3))
    counts = np.zeros((len(ARKIT_BLENDSHAPES), NUM_LANDMARKS, 1))
    amounts = np.asarray(amounts, dtype=np.float64)
    for pitch_deg, yaw_deg in views:
        observe = _Observer(model, pitch_deg, yaw_deg, SHAPE_SIZE)
        rest = observe()
        if rest is None:
            log(f"view pitch {pitch_deg} yaw {yaw_deg}: MediaPipe found no face, skipped")
            continue
        for k, name in enumerate(ARKIT_BLENDSHAPES):
            moved = []
            for amount in amounts:
                weights = np.zeros(len(ARKIT_BLENDSHAPES))
                weights[k] = amount
                seen = observe(weights)
                if seen is None:
                    break
                moved.append(seen[0] - rest[0])
            if len(moved) < len(amounts):
                log(f"{name} at yaw {yaw_deg}: MediaPipe lost the face, view skipped")
                continue
            slope = np.einsum("a,apd->pd", amounts, np.array(moved)) / np.sum(amounts**2)
            total[k] += slope * rest[1][:, None]
            counts[k] += rest[1][:, None]
        log(f"view pitch {pitch_deg:+d} yaw {yaw_deg:+d}: {len(ARKIT_BLENDSHAPES)} channels")
    with np.errstate(invalid="ignore"):
        return total / counts
