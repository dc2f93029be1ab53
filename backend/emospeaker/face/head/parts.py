"""The head's other parts: eyeballs, inner lips, teeth, tongue, mouth cavity, neck.

Each is a small procedural mesh with per-vertex colours, in the face frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import anatomy as A


@dataclass(frozen=True)
class Part:
    name: str
    vertices: np.ndarray  # [n, 3]
    faces: np.ndarray  # [m, 3] counter-clockwise seen from outside, local vertex ids
    colors: np.ndarray  # [n, 3] linear RGB in [0, 1]
    material: str  # skin, eye, teeth, mouth


def grid_faces(rows: int, cols: int, wrap: bool = False) -> np.ndarray:
    """Triangles of a rows x cols vertex grid (row-major), optionally closed across columns."""
    ids = np.arange(rows * cols).reshape(rows, cols)
    right = np.roll(ids, -1, axis=1) if wrap else ids[:, 1:]
    left = ids if wrap else ids[:, :-1]
    a, b = left[:-1], right[:-1]
    d, c = left[1:], right[1:]
    return np.concatenate(
        [np.stack([a, d, c], -1).reshape(-1, 3), np.stack([a, c, b], -1).reshape(-1, 3)]
    )


def _sphere_grid(polar: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions on rings of polar angle (from +z) and faces, with a pole at +z."""
    phi = 2 * np.pi * np.arange(segments) / segments
    theta = polar[:, None]
    dirs = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 0 * phi], -1
    ).reshape(-1, 3)
    faces = grid_faces(len(polar), segments, wrap=True)
    pole = len(dirs)
    fan = [(pole, j, (j + 1) % segments) for j in range(segments)]
    dirs = np.concatenate([dirs, [[0.0, 0.0, 1.0]]])
    return dirs, np.concatenate([faces, np.array(fan)])


def eyeball(side: float) -> Part:
    """An eyeball looking down +z: sclera, iris, pupil and a slight corneal bulge."""
    polar = np.concatenate(
        [
            np.linspace(0.04, A.PUPIL_ANGLE, 4),
            np.linspace(A.PUPIL_ANGLE + 0.03, A.IRIS_ANGLE, 6),
            np.linspace(A.IRIS_ANGLE + 0.05, 2.6, 12),
            np.linspace(2.75, 3.1, 3),
        ]
    )
    dirs, faces = _sphere_grid(polar, 40)
    theta = np.arccos(np.clip(dirs[:, 2], -1, 1))
    cornea = 0.0006 * np.clip(1 - (theta / A.IRIS_ANGLE) ** 2, 0, 1)
    vertices = A.EYE_CENTER * (side, 1, 1) + dirs * (A.EYE_RADIUS + cornea)[:, None]
    ring = theta / A.IRIS_ANGLE
    iris = np.array([0.30, 0.42, 0.50]) * (0.7 + 0.5 * ring[:, None])
    colors = np.where(
        (theta < A.PUPIL_ANGLE)[:, None],
        [0.02, 0.02, 0.02],
        np.where(
            (theta < A.IRIS_ANGLE)[:, None],
            iris * (1 - 0.5 * (ring > 0.9)[:, None]),
            [0.86, 0.83, 0.80],
        ),
    )
    return Part(f"eye{'Left' if side > 0 else 'Right'}", vertices, faces, colors, "eye")


def _arch(s: np.ndarray, front_z: float, half_width: float, depth: float) -> np.ndarray:
    """Points (x, z) along a dental arch, s in [-1, 1] from the right molars to the left."""
    x = half_width * np.sin(s * np.pi / 2) ** 1.0
    z = front_z - depth * (x / half_width) ** 2
    return np.stack([x, z], -1)


def teeth(upper: bool) -> Part:
    """A dental arch: crowns with scalloped edges and gaps between teeth, gums on top."""
    n = 91  # odd: a sample on the midline keeps the arch symmetric
    s = np.linspace(-1, 1, n)
    arch = _arch(s, 0.0078 if upper else 0.0064, 0.0245, 0.030)
    tangent = np.gradient(arch, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], -1)  # outwards
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    # tooth boundaries by arc length from the midline (central incisor ~8.5 mm wide)
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(arch, axis=0), axis=1))])
    arc = np.abs(arc - arc[n // 2])
    bounds = np.cumsum([0.0, 0.0085, 0.0066, 0.0078, 0.0070, 0.0068, 0.0100, 0.0100])
    k = np.clip(np.searchsorted(bounds, arc) - 1, 0, len(bounds) - 2)
    frac = (arc - bounds[k]) / (bounds[k + 1] - bounds[k])
    edge_round = 0.0009 * (1 - np.sin(np.pi * frac) ** 0.5)
    sign = -1.0 if upper else 1.0  # direction from gum to biting edge
    edge_y = (-0.0766 if upper else -0.0758) - sign * edge_round
    gum_y = -0.0640 if upper else -0.0880
    thickness = np.where(arc < 0.022, 0.0055, 0.0085)
    rows = [  # outer gum, outer edge, inner edge, inner gum
        (0.0, gum_y),
        (0.0, None),
        (-1.0, None),
        (-1.0, gum_y),
    ]
    verts = []
    for off, y in rows:
        xz = arch + normal * (off * thickness)[:, None]
        yy = edge_y if y is None else np.full(n, y)
        verts.append(np.stack([xz[:, 0], yy, xz[:, 1]], -1))
    vertices = np.concatenate(verts)
    faces = grid_faces(4, n)
    if not upper:
        faces = faces[:, ::-1]
    gap = np.exp(-((np.minimum(frac, 1 - frac) / 0.06) ** 2))
    enamel = np.array([0.93, 0.90, 0.82]) * (1 - 0.45 * gap[:, None])
    gum = np.tile([0.78, 0.42, 0.42], (n, 1))
    colors = np.concatenate([gum, enamel, enamel * 0.85, gum])
    return Part("teethUpper" if upper else "teethLower", vertices, faces, colors, "teeth")


def tongue() -> Part:
    polar = np.linspace(0.15, 3.0, 14)
    dirs, faces = _sphere_grid(polar, 24)
    radii = np.array([0.0185, 0.0062, 0.0260])
    v = dirs * radii
    v[:, 1] = np.where(v[:, 1] < 0, v[:, 1] * 0.6, v[:, 1])  # flatter underneath
    vertices = v + np.array([0.0, -0.0828, -0.0160])
    colors = np.tile([0.76, 0.36, 0.38], (len(v), 1))
    colors[v[:, 1] < 0] *= 0.75
    return Part("tongue", vertices, faces, colors, "mouth")


def cavity(ring: np.ndarray) -> tuple[Part, np.ndarray, np.ndarray]:
    """The dark inside of the mouth, lofted back from the ends of the inner lips.

    `ring` [k, 3] is the closed loop where the inner lips end. Returns the part, and for
    each of its vertices the ring index it was lofted from and how much (1 at the ring,
    fading backwards) it should follow that ring vertex when the lips move.
    """
    steps = np.linspace(0.0, 0.9, 8)[1:]
    center = ring.mean(axis=0)
    back = np.array([0.0, -0.079, -0.050])
    rings = [ring]
    for t in steps:
        bulge = np.sin(np.pi * t) ** 0.7
        offset = ring - center
        scaled = offset * np.array([1 + 0.55 * bulge, 1.0, 1.0]) * (1 - t) ** 0.4
        scaled[:, 1] += np.sign(offset[:, 1]) * 0.014 * bulge
        point = center + (back - center) * t + scaled
        point[:, 2] = center[2] + (back[2] - center[2]) * t**0.8 + offset[:, 2] * (1 - t)
        rings.append(point)
    vertices = np.concatenate([*rings, back[None]])  # the throat closes at `back`
    faces = grid_faces(len(rings), len(ring), wrap=True)
    last = (len(rings) - 1) * len(ring)
    k = len(ring)
    fan = [(last + j, last + (j + 1) % k, len(vertices) - 1) for j in range(k)]
    faces = np.concatenate([faces, np.array(fan)])
    depth = np.concatenate([np.repeat(np.concatenate([[0.0], steps]), len(ring)), [1.0]])
    colors = np.array([0.40, 0.10, 0.11]) * (1 - 0.85 * depth[:, None] ** 0.7)
    source = np.concatenate([np.tile(np.arange(len(ring)), len(rings)), [0]])
    follow = np.clip(1 - depth / 0.45, 0, 1)
    return Part("mouthCavity", vertices, faces, colors, "mouth"), source, follow


def neck() -> Part:
    """A neck leaning slightly forward; its top is hidden inside the head, higher at the
    back (under the skull) than at the front (under the jaw, clear of the mouth)."""
    segments = 48
    phi = 2 * np.pi * np.arange(segments) / segments
    top = -0.078 - 0.028 * np.cos(phi)  # -0.106 under the chin, -0.050 at the nape
    t = np.linspace(0.0, 1.0, 13)[:, None]
    y = top[None, :] + (-0.235 - top[None, :]) * t
    flare = 1 + 0.25 * np.clip((-0.17 - y) / 0.065, 0, 1) ** 2
    cz = -0.076 + 0.16 * (-0.105 - y)  # the neck leans forward as it goes down
    x = 0.054 * flare * np.sin(phi)
    z = cz + 0.050 * flare * np.cos(phi)
    vertices = np.stack([x, y, z], -1).reshape(-1, 3)
    faces = grid_faces(len(t), segments, wrap=True)
    colors = np.tile([0.80, 0.61, 0.51], (len(vertices), 1))
    return Part("neck", vertices, faces, colors, "skin")


def ear(side: float) -> Part:
    """An outer ear: a shell with a rolled rim (helix) around a hollow (concha), standing off
    the side of the head at its back edge."""
    u = 2 * np.pi * np.arange(48) / 48
    v = np.linspace(0.0, 0.92, 9)  # rim -> middle
    height = 0.030 * np.sin(u)[None, :]
    width = np.where(np.cos(u) > 0, 0.010, 0.018) * np.cos(u)
    shrink = (1 - v[:, None]) ** 0.8
    s = height * shrink  # along the ear's height
    t = width[None, :] * shrink  # towards the face
    rim = 0.0032 * np.exp(-(((v - 0.06) / 0.07) ** 2))[:, None]
    hollow = -0.0065 * v[:, None] ** 1.3 * (0.6 + 0.4 * np.cos(u)[None, :])
    n = rim + hollow + 0.0008 * np.sin(3 * u)[None, :] * (v[:, None] < 0.5)
    angle = np.radians(22.0)  # the back edge stands out from the head
    forward = np.array([-np.sin(angle), 0.0, np.cos(angle)])
    normal = np.array([np.cos(angle), 0.0, np.sin(angle)])
    center = np.array([0.0735, -0.012, -0.076])
    points = (
        center
        + s[..., None] * np.array([0, 1.0, 0])
        + t[..., None] * forward
        + n[..., None] * normal
    )
    vertices = points.reshape(-1, 3)
    faces = grid_faces(len(v), len(u), wrap=True)[:, ::-1]
    middle = len(vertices)
    last = (len(v) - 1) * len(u)
    fan = [(middle, last + (j + 1) % len(u), last + j) for j in range(len(u))]
    vertices = np.concatenate([vertices, [center + normal * -0.007]])
    faces = np.concatenate([faces, np.array(fan)])
    colors = np.tile([0.80, 0.58, 0.49], (len(vertices), 1))
    colors[len(u) * 3 :] *= np.array([0.95, 0.88, 0.86])  # the hollow is a little redder
    if side < 0:
        vertices = vertices * np.array([-1.0, 1.0, 1.0])
        faces = faces[:, ::-1]
    return Part(f"ear{'Left' if side > 0 else 'Right'}", vertices, faces, colors, "skin")
