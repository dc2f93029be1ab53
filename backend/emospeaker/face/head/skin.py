"""The skin: a grid of rays from a core inside the head, cast onto `skin_sdf`.

Columns are angles around the vertical axis; rows are described at `_profile`. Eyes and
mouth are slits cut along grid rows: the vertices of a slit row are duplicated between its
corners, the upper copies bounding the triangles above, the lower copies those below. Rows
are warped so that each slit follows its anatomical line, and the eye slits are opened
(upper lid up, lower lid down) before the rays are cast, so every vertex lies on the
surface. The mouth stays closed: its copies coincide until the jaw or lips move them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import anatomy as A
from .sdf import skin_sdf

COLUMNS = 160  # even: a column on the midline and one at the back seam
ROWS = 116
LON_DENSITY = 0.64  # 0: uniform columns; towards 1: denser at the front

# Rays start on a vertical core inside the head: from its top end they fan over the crown,
# along it they run horizontally (the face is a height field seen that way: no ray grazes a
# lip or the nose), from its bottom end they fan under the chin. A row's coordinate v is the
# arc length along that core's capsule-shaped profile.
CORE_TOP, CORE_BOTTOM = 0.034, -0.098
CAP_RADIUS = 0.09
V_BAND = CAP_RADIUS * np.pi / 2  # v where the horizontal band starts
V_END = V_BAND + (CORE_TOP - CORE_BOTTOM) + CAP_RADIUS * np.radians(86.0)


@dataclass(frozen=True)
class Slit:
    """An opening cut along a grid row: vertex ids ordered along it (corners shared)."""

    name: str
    upper: np.ndarray  # [k] ids, corner to corner, including both corners
    lower: np.ndarray


@dataclass(frozen=True)
class Skin:
    vertices: np.ndarray  # [N, 3]
    faces: np.ndarray  # [M, 3] counter-clockwise seen from outside
    lon: np.ndarray  # [N] column angle of each vertex (0: the face's midline)
    v: np.ndarray  # [N] un-warped row coordinate (0 at the crown, growing downwards)
    below: dict[str, np.ndarray]  # slit name -> [N] bool, the vertex lies on the lower side
    slits: dict[str, Slit]
    center_ids: dict[str, int]  # named grid vertices (midline features)


def _profile(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(origin height, elevation angle) of the rays of row coordinate v."""
    band_end = V_BAND + CORE_TOP - CORE_BOTTOM
    height = np.clip(CORE_TOP - (v - V_BAND), CORE_BOTTOM, CORE_TOP)
    elevation = np.where(
        v < V_BAND, (V_BAND - v) / CAP_RADIUS, -np.maximum(v - band_end, 0.0) / CAP_RADIUS
    )
    return height, elevation


def _v_of_height(y: np.ndarray) -> np.ndarray:
    return V_BAND + CORE_TOP - y


def _columns() -> np.ndarray:
    u = -np.pi + 2 * np.pi * np.arange(COLUMNS) / COLUMNS
    return u - LON_DENSITY * np.sin(u)


def _rows() -> np.ndarray:
    """Row coordinates from near the crown to the throat, denser at eyes, nose and mouth."""
    v = np.linspace(CAP_RADIUS * np.radians(1.5), V_END, 4000)
    y = CORE_TOP - (v - V_BAND)  # height, meaningful in the band

    def near(center: float, width: float) -> np.ndarray:
        return np.exp(-(((y - center) / width) ** 2))

    density = (
        0.5
        + 1.8 * near(0.003, 0.02)
        + 1.0 * near(-0.045, 0.012)
        + 2.6 * near(-0.075, 0.012)
        + 0.8 * near(-0.11, 0.012)
    )
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]))])
    return np.interp(np.linspace(0, cumulative[-1], ROWS), cumulative, v)


def _angles(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lon, v) of points in the horizontal band."""
    return np.arctan2(points[..., 0], points[..., 2] - A.RAY_CENTER[2]), _v_of_height(
        points[..., 1]
    )


def _lid_point(xy: np.ndarray) -> np.ndarray:
    """The point on the lid sphere in front of (x, y)."""
    dx, dy = xy[..., 0] - A.EYE_CENTER[0], xy[..., 1] - A.EYE_CENTER[1]
    z = A.EYE_CENTER[2] + np.sqrt(np.maximum(A.LID_RADIUS**2 - dx**2 - dy**2, 0.0))
    return np.stack([xy[..., 0], xy[..., 1], z], axis=-1)


def _eye_line(t: np.ndarray) -> np.ndarray:
    return _lid_point(A.EYE_INNER_CORNER + t[:, None] * (A.EYE_OUTER_CORNER - A.EYE_INNER_CORNER))


def _mouth_line(t: np.ndarray) -> np.ndarray:
    """The lips' meeting line from the right corner (t=-1) to the left (t=1)."""
    corner, mid = A.MOUTH_CORNER, A.STOMION
    x = t * corner[0]
    y = mid[1] + (corner[1] - mid[1]) * t**2
    z = mid[2] + (corner[2] - mid[2]) * np.abs(t) ** 1.7
    return np.stack([x, y, z], axis=-1)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass(frozen=True)
class _Feature:
    name: str
    row: int
    cols: np.ndarray  # corner column, interior columns..., corner column
    shift: np.ndarray  # [COLUMNS] v shift that puts the row on the feature's line
    width: float  # rows within ~width (of v) follow the shift
    up: np.ndarray  # [COLUMNS] opening of the upper side (metres), 0 outside the slit
    down: np.ndarray


def _feature(name, line, lon, v0, width, heights=None) -> _Feature:
    line_lon, line_v = _angles(line)
    row = int(np.argmin(np.abs(v0 - line_v.mean())))
    lo, hi = sorted((line_lon[0], line_lon[-1]))
    order = np.argsort(line_lon)
    inside = np.interp(lon, line_lon[order], line_v[order]) - v0[row]
    taper = 1.0 - _smoothstep(0.0, 0.25, np.maximum(lo - lon, lon - hi))
    c0, c1 = int(np.argmin(np.abs(lon - lo))), int(np.argmin(np.abs(lon - hi)))
    cols = np.arange(c0, c1 + 1)
    up, down = np.zeros_like(lon), np.zeros_like(lon)
    if heights is not None:
        s = (lon[cols] - lon[c0]) / (lon[c1] - lon[c0])
        up[cols], down[cols] = heights(s)
    return _Feature(name, row, cols, inside * taper, width, up, down)


def _eye_heights(side: float):
    """Lid openings (metres) along the slit: s=0 at the inner corner, 1 at the outer."""

    def heights(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = s if side > 0 else 1.0 - s  # columns run from the character's right to left
        upper = A.UPPER_LID_OPENING * (np.sin(np.pi * t**0.85) ** 0.8)
        lower = A.LOWER_LID_OPENING * (np.sin(np.pi * t**1.15) ** 0.9)
        return upper, lower

    return heights


def _features(lon: np.ndarray, v0: np.ndarray) -> list[_Feature]:
    eye_left = _eye_line(np.linspace(0.0, 1.0, 64))
    return [
        _feature("eyeLeft", eye_left, lon, v0, 0.006, _eye_heights(1.0)),
        _feature("eyeRight", A.mirror_x(eye_left)[::-1], lon, v0, 0.006, _eye_heights(-1.0)),
        _feature("mouth", _mouth_line(np.linspace(-1, 1, 96)), lon, v0, 0.008),
    ]


def _rays(lon: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, elevation = _profile(v)
    origins = np.stack([0 * lon, height, A.RAY_CENTER[2] + 0 * lon], -1)
    directions = np.stack(
        [np.cos(elevation) * np.sin(lon), np.sin(elevation), np.cos(elevation) * np.cos(lon)], -1
    )
    return origins, directions


def raycast(origins: np.ndarray, directions: np.ndarray, far: float = 0.24) -> np.ndarray:
    """The outermost skin point along each ray.

    March inwards (near the skin in steps no longer than 3 mm, so no feature is skipped)
    until inside, then bisect the last step.
    """
    t = np.full(len(directions), far)
    prev = t.copy()
    active = np.arange(len(directions))
    while active.size:
        d = skin_sdf(origins[active] + t[active, None] * directions[active])
        inside = d <= 0
        active = active[~inside]
        prev[active] = t[active]
        d_out = d[~inside]
        t[active] -= np.clip(0.9 * d_out, 2e-5, np.maximum(0.003, 0.5 * d_out))
        if np.any(t[active] < 0):
            raise RuntimeError("a ray from the head's core missed the skin")
    hi, lo = prev, t  # outside at hi, inside at lo
    for _ in range(14):  # 3 mm / 2^14: well below a micrometre
        mid = 0.5 * (hi + lo)
        inside = skin_sdf(origins + mid[:, None] * directions) <= 0
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    return origins + (0.5 * (hi + lo))[:, None] * directions


def build_skin() -> Skin:
    lon = _columns()
    v0 = _rows()
    features = _features(lon, v0)
    grid_v = np.repeat(v0[:, None], COLUMNS, axis=1)
    lower_v: dict[str, np.ndarray] = {}
    for f in features:
        delta = v0[:, None] - v0[f.row]  # > 0 below the slit
        grid_v = grid_v + f.shift[None, :] * np.exp(-((delta / f.width) ** 2))
        # the slit row itself is the upper copy; its lower copies open downwards
        opening = np.exp(-((delta / (1.4 * f.width)) ** 2))
        grid_v = grid_v + np.where(delta <= 0, -f.up[None, :], f.down[None, :]) * opening
        lower_v[f.name] = v0[f.row] + f.shift + f.down
    grid_lon = np.repeat(lon[None, :], ROWS, axis=0)

    # vertex table: poles, grid, then the lower copies of each slit's interior
    top, bottom = 0, 1
    grid_id = 2 + np.arange(ROWS * COLUMNS).reshape(ROWS, COLUMNS)
    vlon = [0.0, 0.0, *grid_lon.ravel()]
    vv = [0.0, V_END + 0.01, *grid_v.ravel()]
    param = [0.0, V_END + 0.01, *np.repeat(v0, COLUMNS)]
    lower_of: dict[str, dict[int, int]] = {}
    next_id = 2 + ROWS * COLUMNS
    slits = {}
    for f in features:
        interior = f.cols[1:-1]
        ids = next_id + np.arange(len(interior))
        next_id += len(interior)
        vlon += list(lon[interior])
        vv += list(lower_v[f.name][interior])
        param += [v0[f.row]] * len(interior)
        lower_of[f.name] = dict(zip(interior.tolist(), ids.tolist(), strict=True))
        corners = [grid_id[f.row, f.cols[0]], grid_id[f.row, f.cols[-1]]]
        slits[f.name] = Slit(
            f.name,
            upper=np.array([corners[0], *grid_id[f.row, interior], corners[1]]),
            lower=np.array([corners[0], *ids, corners[1]]),
        )
    vlon, vv, param = np.array(vlon), np.array(vv), np.array(param)
    origins, directions = _rays(vlon, vv)
    vertices = raycast(origins, directions)

    faces = _grid_faces(grid_id, lon, top, bottom, features, lower_of)
    below = {}
    for f in features:
        mask = np.zeros(len(vertices), bool)
        mask[grid_id[f.row + 1 :].ravel()] = True
        mask[bottom] = True
        mask[list(lower_of[f.name].values())] = True
        below[f.name] = mask
    centers = {
        "upperLipCenter": int(grid_id[features[2].row, COLUMNS // 2]),
        "lowerLipCenter": lower_of["mouth"][COLUMNS // 2],
    }
    return Skin(vertices, faces, vlon, param, below, slits, centers)


def _grid_faces(grid_id, lon, top, bottom, features, lower_of) -> np.ndarray:
    ids = grid_id.copy()
    below_ids = grid_id.copy()  # the ids a quad below each row uses
    for f in features:
        for col, new in lower_of[f.name].items():
            below_ids[f.row, col] = new
    faces = []
    nxt = np.roll(np.arange(COLUMNS), -1)
    right_side = (np.sin(lon) + np.sin(lon[nxt])) < 0  # mirror the diagonals across the midline
    for i in range(ROWS - 1):
        a, b = below_ids[i], below_ids[i, nxt]
        d, c = ids[i + 1], ids[i + 1, nxt]
        left = ~right_side
        faces += list(np.stack([a, d, c], 1)[left]) + list(np.stack([a, c, b], 1)[left])
        faces += list(np.stack([a, d, b], 1)[right_side])
        faces += list(np.stack([b, d, c], 1)[right_side])
    faces += [(top, ids[0, j], ids[0, nxt[j]]) for j in range(COLUMNS)]
    faces += [(bottom, ids[-1, nxt[j]], ids[-1, j]) for j in range(COLUMNS)]
    return np.array(faces, dtype=np.int64)


def _chain_strip(chain_a: np.ndarray, chain_b: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Triangles joining two vertex chains of equal length; `right` [k-1] marks segments on
    the character's right, whose diagonals are mirrored so the mesh stays symmetric."""
    a, b = chain_a[:-1], chain_a[1:]
    d, c = chain_b[:-1], chain_b[1:]
    left = ~right
    return np.concatenate(
        [
            np.stack([a, d, c], 1)[left],
            np.stack([a, c, b], 1)[left],
            np.stack([a, d, b], 1)[right],
            np.stack([b, d, c], 1)[right],
        ]
    )


def lip_and_lid_strips(skin: Skin) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Inner surfaces behind the slits' edges: the lips' mucosa curling into the mouth and
    the lids' thickness down to the eyeball. Returns (new vertices, faces over the skin's
    ids + new ids, {name: ids of the new vertices}) - names like `mouthUpper`, `eyeLeftLower`.
    """
    v = skin.vertices
    new: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    groups: dict[str, np.ndarray] = {}
    next_id = len(v)

    def add(points: np.ndarray) -> np.ndarray:
        nonlocal next_id
        ids = next_id + np.arange(len(points))
        next_id += len(points)
        new.append(points)
        return ids

    mouth = skin.slits["mouth"]
    corner_x = np.abs(v[mouth.upper[0], 0])
    for side, chain in (("Upper", mouth.upper), ("Lower", mouth.lower)):
        sign = 1.0 if side == "Upper" else -1.0
        taper = np.sqrt(np.clip(1 - (v[chain, 0] / corner_x) ** 2, 0, 1))[:, None]
        rows = [chain]
        ids_all = []
        for dy, dz in ((0.0008, -0.0040), (0.0026, -0.0075), (0.0058, -0.0096)):
            points = v[chain] + taper * np.array([0.0, sign * dy, dz])
            interior = add(points[1:-1])
            ids_all.append(interior)
            rows.append(np.array([chain[0], *interior, chain[-1]]))
        right = (v[chain[:-1], 0] + v[chain[1:], 0]) < 0
        for a, b in zip(rows[:-1], rows[1:], strict=True):
            faces.append(
                _chain_strip(a, b, right) if side == "Lower" else _chain_strip(b, a, right)
            )
        groups[f"mouth{side}"] = np.concatenate(ids_all)

    for name in ("eyeLeft", "eyeRight"):
        slit = skin.slits[name]
        center = A.EYE_CENTER * (1 if name == "eyeLeft" else -1, 1, 1)
        corners = v[[slit.upper[0], slit.upper[-1]]]
        corner_ids = add(center + (corners - center) * (A.EYE_RADIUS + 0.0003) / A.LID_RADIUS)
        for side, chain in (("Upper", slit.upper), ("Lower", slit.lower)):
            inner = v[chain[1:-1]] - center
            inner = (
                center + inner * ((A.EYE_RADIUS + 0.0003) / np.linalg.norm(inner, axis=1))[:, None]
            )
            ids = add(inner)
            ring = np.array([corner_ids[0], *ids, corner_ids[1]])
            right = np.full(len(chain) - 1, name == "eyeRight")
            faces.append(
                _chain_strip(chain, ring, right)
                if side == "Upper"
                else _chain_strip(ring, chain, right)
            )
            groups[f"{name}{side}"] = ids
        groups[f"{name}Corners"] = corner_ids
    return np.concatenate(new), np.concatenate(faces), groups
