"""The built-in head: the face model (ICT FaceKit, `face.model`) dressed for previews and
exports with per-vertex colours and roughness, and a neck that follows the head's turn by
half (the head turns about the upper neck; the shoulders stay).

    head = build_head()
    vertices = head.deform(weights)              # [N, 3] for ARKit weights [52]
    posed = head.pose(vertices, head_channels)   # head rotation / translation, neck blended

Colours are painted from the model's own landmarks (no texture ships): lips from the iBUG
lip contour, brows along the brow landmarks, a flush on the cheeks, short hair above a
hairline, eyes with a sclera, an iris and a pupil, and a mouth interior that darkens with
depth (the preview has no shadows, so the back of the mouth would otherwise glow).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .model import FaceModel, load_face_model
from .pose import head_transform, neck_transform

# linear-RGB albedo of each material and of the painted regions
ALBEDO = {
    "skin": (0.45, 0.27, 0.19),
    "mouth": (0.42, 0.13, 0.12),
    "gums": (0.62, 0.22, 0.22),
    "tongue": (0.60, 0.22, 0.21),
    "teeth": (0.78, 0.74, 0.62),
    "sclera": (0.80, 0.76, 0.72),
    "iris": (0.16, 0.09, 0.045),
    "lashes": (0.025, 0.018, 0.015),
}
LIPS = np.array([0.36, 0.12, 0.11])
CHEEKS = np.array([0.47, 0.21, 0.16])
BROWS = np.array([0.07, 0.045, 0.03])
HAIR = np.array([0.05, 0.033, 0.022])
EYE_CORNERS = np.array([0.62, 0.28, 0.26])  # the pink inner lid and caruncle (eye sockets)
PUPIL = np.array([0.01, 0.01, 0.01])
ROUGHNESS = {
    "skin": 0.55,
    "mouth": 0.7,
    "gums": 0.45,
    "tongue": 0.45,
    "teeth": 0.3,
    "sclera": 0.15,
    "iris": 0.15,
    "lashes": 0.9,
}
LASH_LENGTH = (0.4, 0.25)  # upper, lower lashes: this share of ICT's (see shorten_lashes)
# the neck's share of the head pose fades in between these heights (metres, face frame)
NECK_TOP, NECK_BOTTOM = -0.115, -0.200
IRIS_ANGLE, PUPIL_ANGLE = np.radians(19.0), np.radians(7.5)  # seen from the eye's centre


@dataclass(frozen=True)
class Head:
    model: FaceModel
    colors: np.ndarray  # [N, 3] float32 linear RGB albedo
    roughness: np.ndarray  # [N] float32
    neck: np.ndarray  # [N] float32: share of the neck's transform in each vertex (0..1)
    lashes: np.ndarray  # [L] vertex ids of the lashes
    lash_roots: np.ndarray  # [L] the lid vertex each lash grows from
    lash_length: np.ndarray  # [L, 1] share of ICT's length each lash keeps

    @property
    def neutral(self) -> np.ndarray:
        return self.vertices

    @cached_property
    def deltas(self) -> np.ndarray:
        """[52, N, 3] the ARKit shapes: the model's, with the shortened lashes."""
        return self.shorten_lashes(self.model.deltas)

    @property
    def triangles(self) -> np.ndarray:
        return self.model.triangles

    @cached_property
    def vertices(self) -> np.ndarray:
        """[N, 3] the neutral head, with the shortened lashes."""
        return self.shorten_lashes(self.model.vertices)

    def deform(self, weights: np.ndarray) -> np.ndarray:
        """Vertices [..., N, 3] for ARKit weights [..., 52] (face frame, metres)."""
        return self.shorten_lashes(self.model.deform(weights))

    def shorten_lashes(self, points: np.ndarray) -> np.ndarray:
        """Points [..., N, 3] (or offsets) with each lash drawn towards its root, to
        LASH_LENGTH of its length: ICT's lash cards are meant for an alpha texture, and
        drawn opaque at full length they are a thick black band round each eye. Linear in
        the points, so positions and shape offsets shorten alike."""
        out = np.array(points, copy=True)
        roots = out[..., self.lash_roots, :]
        out[..., self.lashes, :] = roots + self.lash_length * (out[..., self.lashes, :] - roots)
        return out

    def pose(self, vertices: np.ndarray, head: np.ndarray) -> np.ndarray:
        """Vertices [N, 3] turned and moved by the six head channels [6]: the head rigidly
        about the upper neck, the neck blended towards half that turn (linear blend skinning
        with two bones, so the skin stays whole)."""
        if not np.any(head):
            return vertices
        moved = []
        for transform in (head_transform(head), neck_transform(head)):
            rotation, shift = transform[:3, :3].astype(np.float32), transform[:3, 3]
            moved.append(vertices @ rotation.T + shift.astype(np.float32))
        return moved[0] + (moved[1] - moved[0]) * self.neck[:, None]


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _mix(colors: np.ndarray, color: np.ndarray, amount: np.ndarray) -> None:
    colors += (color - colors) * amount[:, None]


def _polygon_amount(points: np.ndarray, polygon: np.ndarray, soft: float) -> np.ndarray:
    """1 inside the closed polygon [K, 2] (x, y), fading to 0 over `soft` metres outside."""
    from matplotlib.path import Path

    inside = Path(polygon).contains_points(points)
    return np.where(inside, 1.0, 1.0 - _smooth(0.0, soft, _polyline_distance(points, polygon)))


def _polyline_distance(points: np.ndarray, line: np.ndarray, closed: bool = True) -> np.ndarray:
    """Distance [P] of points [P, 2] to a polyline [K, 2] (closed: back to its start)."""
    a = line if closed else line[:-1]
    b = np.roll(line, -1, axis=0) if closed else line[1:]
    ab = b - a
    t = np.einsum("pkd,kd->pk", points[:, None] - a, ab) / np.maximum((ab * ab).sum(1), 1e-12)
    nearest = a + np.clip(t, 0, 1)[..., None] * ab
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def _skin_colors(model: FaceModel, colors: np.ndarray) -> None:
    """Lips, cheeks, brows and hair on the skin (face and head parts), in place."""
    v = model.vertices
    skin = model.part_ids("face", "head")
    p = v[skin]
    lm = v[model.landmarks68]
    front = p[:, 2] > lm[48, 2] - 0.012  # lips and brows are painted on the front only
    part = colors[skin]
    lips = _polygon_amount(p[:, :2], lm[48:60, :2], 0.0015) * front
    _mix(part, LIPS, lips)
    for side in (1.0, -1.0):  # cheeks: below the outer eye, above the mouth corner
        center = np.array([side * 0.040, 0.5 * (lm[41, 1] + lm[48, 1]) - 0.004, 0.0])
        reach = ((p[:, 0] - center[0]) / 0.017) ** 2 + ((p[:, 1] - center[1]) / 0.015) ** 2
        _mix(part, CHEEKS, 0.45 * np.exp(-reach) * (p[:, 2] > 0.0) * (1 - lips))
    x = np.abs(p[:, 0])  # brows: full at their heads, tapering to their tails
    half = np.interp(x, [0.012, 0.035, 0.058], [0.0034, 0.0027, 0.0011])
    along = _smooth(0.008, 0.013, x) * (p[:, 2] > -0.01)
    for brow in (lm[17:22], lm[22:27]):
        near = _polyline_distance(p[:, :2], brow[:, :2], closed=False)
        _mix(part, BROWS, 0.9 * (1 - _smooth(0.6 * half, 1.5 * half, near)) * along)
    # hair: above a hairline that runs from the forehead, over the temples, behind the ears
    hairline = np.interp(
        -p[:, 2], [-0.03, 0.0, 0.04, 0.09, 0.13, 0.17], [0.07, 0.07, 0.05, 0.04, 0.0, -0.05]
    )
    _mix(part, HAIR, _smooth(-0.004, 0.004, p[:, 1] - hairline))
    colors[skin] = part
    sockets = model.part_ids("eye_socket_left", "eye_socket_right")
    colors[sockets] = EYE_CORNERS


def _sphere_center(points: np.ndarray) -> np.ndarray:
    """Least-squares centre of a sphere through points [N, 3]."""
    a = np.c_[2 * points, np.ones(len(points))]
    return np.linalg.lstsq(a, (points**2).sum(1), rcond=None)[0][:3]


def _eye_colors(model: FaceModel, colors: np.ndarray) -> None:
    """Iris and pupil on the eyeballs' inner spheres, by angle from each eye's axis (the
    front of the outer shell, the cornea, is left out of the asset)."""
    v = model.vertices
    iris_material = model.material_names.index("iris")
    for side in ("eyeball_left", "eyeball_right"):
        ids = model.part_ids(side)
        iris = np.intersect1d(
            np.unique(model.triangles[model.triangle_material == iris_material]), ids
        )
        center = _sphere_center(v[iris])
        disc = iris[v[iris, 2] > v[iris, 2].max() - 0.0005]  # the flat front of the iris
        axis = v[disc].mean(axis=0) - center
        axis /= np.linalg.norm(axis)
        direction = v[iris] - center
        angle = np.arccos(np.clip(direction @ axis / np.linalg.norm(direction, axis=1), -1, 1))
        # the inner sphere: white behind the outer shell, dark at the back, which is what
        # shows through the pupil (a hole in ICT's iris)
        colors[iris] = np.where((angle > np.pi / 2)[:, None], PUPIL, ALBEDO["sclera"])
        ring = _smooth(IRIS_ANGLE - 0.07, IRIS_ANGLE, angle)  # the limbus, darker
        base = np.array(ALBEDO["iris"])
        iris_color = base * (1 - 0.5 * ring[:, None])
        in_iris = angle < IRIS_ANGLE + 0.02
        colors[iris[in_iris]] = iris_color[in_iris]
        pupil = 1 - _smooth(PUPIL_ANGLE - 0.02, PUPIL_ANGLE + 0.02, angle)
        colors[iris] += (PUPIL - colors[iris]) * pupil[:, None]


def _lash_roots(model: FaceModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lash vertex ids, the lid vertex each grows from, the share of its length it keeps):
    the root is the lid vertex nearest to the lash's nearest root (a lash vertex lying on
    the lid); lashes whose root is below the eye's centre are the lower ones."""
    from scipy.spatial import cKDTree

    v = model.vertices
    lashes = model.part_ids("eyelashes_left", "eyelashes_right")
    lids = model.part_ids("face")
    distance, lid = cKDTree(v[lids]).query(v[lashes])
    rooted = distance < 1e-4
    _, nearest = cKDTree(v[lashes[rooted]]).query(v[lashes])
    roots = lids[lid[rooted][nearest]]
    upper, lower = LASH_LENGTH
    length = np.where(v[roots, 1] > v[model.part_ids("eyeball_left"), 1].mean(), upper, lower)
    return lashes, roots, length[:, None].astype(np.float32)


def _mouth_depth(model: FaceModel, colors: np.ndarray) -> None:
    """Darken the mouth's inside with depth: the preview casts no shadows."""
    inside = model.part_ids("mouth_socket", "gums", "tongue", "teeth")
    z = model.vertices[inside, 2]
    lips_z = model.vertices[model.landmarks68[62], 2]
    shade = 0.25 + 0.75 * _smooth(lips_z - 0.06, lips_z - 0.005, z)
    colors[inside] *= shade[:, None]


def paint(model: FaceModel) -> tuple[np.ndarray, np.ndarray]:
    """(colours [N, 3], roughness [N]) of every vertex: its material's, then painted."""
    colors = np.zeros((len(model.vertices), 3), np.float32)
    roughness = np.zeros(len(model.vertices), np.float32)
    for m, name in enumerate(model.material_names):
        ids = np.unique(model.triangles[model.triangle_material == m])
        colors[ids] = ALBEDO[name]
        roughness[ids] = ROUGHNESS[name]
    _skin_colors(model, colors)
    _eye_colors(model, colors)
    _mouth_depth(model, colors)
    return colors, roughness


@lru_cache(maxsize=1)
def build_head() -> Head:
    """The built-in head (made once per process, about a quarter of a second)."""
    model = load_face_model()
    colors, roughness = paint(model)
    skin = np.isin(model.part_of_vertex, [model.part_names.index(p) for p in ("face", "head")])
    neck = _smooth(NECK_TOP, NECK_BOTTOM, model.vertices[:, 1]) * skin
    return Head(model, colors, roughness, neck.astype(np.float32), *_lash_roots(model))
