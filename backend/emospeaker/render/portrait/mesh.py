"""Piecewise-affine warp of a portrait, driven by landmark displacements.

Everything that depends only on the photo is computed once: a triangulation of the face
landmarks plus rings of points around the face (hair, ears and neck follow the head with a
weight that decays outwards, so the background stays put), the triangle under every source
pixel and the barycentric weights of a sampling grid. A frame then costs one small matrix
product (every vertex's displacement from the landmarks') and, per grid point, a first guess of
where it comes from (its barycentric mix of the vertex displacements: a sparse product). From
the triangle under that guess a short walk across the moved mesh finds the triangle that really
covers the point, whose inverse affine map is then exact however much the triangle stretched or
collapsed (a closing eyelid, an opening mouth). The per-point loop is compiled with numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numba
import numpy as np
from scipy.spatial import Delaunay

from . import topology as tp
from .regions import RigidFit

# rings around the face oval: (scale about the oval's centre, weight of the head's motion
# above and beside the face, weight below the chin where the neck joins the shoulders, share of
# that motion copied from the oval point it radiates from rather than the skull's rigid motion:
# near the face the hair and ears follow the silhouette, farther out the skull)
RINGS = (
    (1.15, 1.0, 0.7, 0.8),
    (1.45, 0.85, 0.35, 0.4),
    (1.8, 0.3, 0.08, 0.0),
    (2.2, 0.0, 0.0, 0.0),
)
GRID_POINTS = 500_000  # the most points the inverse is solved at by default
MAX_WALK = 48  # triangles a point may cross to find its own (a fold could loop forever)


@dataclass(frozen=True)
class WarpMesh:
    """The precomputed warp of one portrait; `maps` turns landmark motion into remap maps."""

    source: np.ndarray  # [V, 2] vertex positions: skin landmarks, then ring points
    triangles: np.ndarray  # [T, 3] vertex indices, counter-clockwise
    neighbours: np.ndarray  # [T, 3] triangle across the edge opposite each vertex (-1: none)
    from_landmarks: np.ndarray  # [V, 478] vertex displacement = this @ landmark displacement
    box: tuple[int, int, int, int]  # x0, y0, x1, y1: the canvas region that can move
    tri_map: np.ndarray  # [y1-y0, x1-x0] int32 triangle under each source pixel (T: none)
    grid: np.ndarray  # [G, 2] float32 canvas positions where the inverse is solved
    grid_shape: tuple[int, int]  # (rows, cols) of the grid
    corners: np.ndarray  # [G, 3] int32 vertices of the source triangle under each grid point
    weights: np.ndarray  # [G, 3] float32 their barycentric weights (0 outside the mesh)

    @classmethod
    def build(
        cls, landmarks: np.ndarray, canvas_size: tuple[int, int], step: int | None = None
    ) -> WarpMesh:
        """Mesh for `landmarks` [478, 2+] on a canvas of (width, height); the inverse is solved
        every `step` px and resized to every pixel (default: every pixel up to ~700x700)."""
        points = np.asarray(landmarks, np.float64)[:, :2]
        ring_points, ring_weights = _rings(points)
        source = np.concatenate([points[: tp.SKIN_LANDMARKS], ring_points])
        layout = _opened_layout(source)
        triangles = Delaunay(layout).simplices.astype(np.int32)
        moving = np.concatenate([np.ones(tp.SKIN_LANDMARKS), ring_weights]) > 0
        triangles = triangles[moving[triangles].any(axis=1)]  # all-still triangles: identity
        triangles = _counter_clockwise(triangles, layout)
        neighbours = _neighbours(triangles)
        from_landmarks = _vertex_matrix(points, ring_points, ring_weights)
        box = _bounding_box(source[moving | _next_to(moving, triangles)], canvas_size)
        tri_map = _rasterise(source, triangles, box)
        area = (box[2] - box[0]) * (box[3] - box[1])
        grid, grid_shape = _grid(box, step or max(1, round((area / GRID_POINTS) ** 0.5)))
        corners, weights = _barycentric(grid, source, triangles, tri_map, box)
        return cls(
            source.astype(np.float32),
            triangles,
            neighbours,
            from_landmarks,
            box,
            tri_map,
            grid,
            grid_shape,
            corners,
            weights,
        )

    def maps(self, displacement: np.ndarray) -> np.ndarray:
        """[h, w, 2] float32 cv2.remap map (canvas coordinates) for every pixel of `box`.

        `displacement` [478, 2] is how far each landmark moves from the photo.
        """
        moved = self.from_landmarks @ np.asarray(displacement, np.float32)[:, :2]
        target = self.source + moved
        inverse = _inverse_affines(target, self.source, self.triangles)
        found = np.empty_like(self.grid)
        x0, y0, x1, y1 = self.box
        _solve(self.grid, self.corners, self.weights, moved, self.tri_map, x0, y0, target,
               self.triangles, self.neighbours, inverse, MAX_WALK, found)  # fmt: skip
        if self.grid_shape == (y1 - y0, x1 - x0):
            return found.reshape(y1 - y0, x1 - x0, 2)
        shift = (found - self.grid).reshape(*self.grid_shape, 2)
        shift = cv2.resize(shift, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        shift[:, :, 0] += np.arange(x0, x1, dtype=np.float32)
        shift[:, :, 1] += np.arange(y0, y1, dtype=np.float32)[:, None]
        return shift


@numba.njit(cache=True, nogil=True)
def _solve(
    grid, corners, weights, moved, tri_map, x0, y0, target, triangles, neighbours, inverse,
    max_walk, found,
):  # fmt: skip
    """For each grid point p find s with warp(s) = p; writes s into `found`."""
    rows, cols = tri_map.shape
    outside = len(triangles)
    for g in range(grid.shape[0]):
        px, py = grid[g, 0], grid[g, 1]
        sx, sy = px, py
        for k in range(3):  # first guess: p minus the displacement interpolated at p
            sx -= weights[g, k] * moved[corners[g, k], 0]
            sy -= weights[g, k] * moved[corners[g, k], 1]
        col = min(max(int(np.rint(sx)) - x0, 0), cols - 1)
        row = min(max(int(np.rint(sy)) - y0, 0), rows - 1)
        t = tri_map[row, col]
        for _ in range(max_walk):  # walk across the moved mesh towards p
            if t == outside:
                break
            worst, side = 0.0, -1
            for i in range(3):  # which side of the edge opposite vertex i is p on?
                a, b = triangles[t, (i + 1) % 3], triangles[t, (i + 2) % 3]
                ex, ey = target[b, 0] - target[a, 0], target[b, 1] - target[a, 1]
                cross = ex * (py - target[a, 1]) - ey * (px - target[a, 0])
                if cross < worst:
                    worst, side = cross, i
            if side < 0:
                break  # inside (or on an edge)
            t = neighbours[t, side]
            if t < 0:
                t = outside
        a = inverse[t]
        found[g, 0] = a[0, 0] * px + a[0, 1] * py + a[0, 2]
        found[g, 1] = a[1, 0] * px + a[1, 1] * py + a[1, 2]


def _neighbours(triangles: np.ndarray) -> np.ndarray:
    """[T, 3]: the triangle sharing the edge opposite each vertex, -1 on the mesh's border."""
    owner: dict[tuple[int, ...], tuple[int, int]] = {}
    neighbours = np.full(triangles.shape, -1, np.int32)
    for t, tri in enumerate(triangles.tolist()):
        for i in range(3):
            edge = tuple(sorted((tri[(i + 1) % 3], tri[(i + 2) % 3])))
            other = owner.pop(edge, None)
            if other is None:
                owner[edge] = (t, i)
            else:
                neighbours[t, i] = other[0]
                neighbours[other[0], other[1]] = t
    return neighbours


def _rings(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rings of points around the face oval and how much of the head's motion each follows."""
    oval = points[list(tp.FACE_OVAL)]
    centre = oval.mean(axis=0)
    eyes = points[[tp.RIGHT_EYE[0], tp.LEFT_EYE[0]]].mean(axis=0)
    down = points[tp.CHIN] - eyes
    down /= np.linalg.norm(down)
    spoke = oval - centre
    below = np.clip((spoke / np.linalg.norm(spoke, axis=1, keepdims=True)) @ down, 0, 1) ** 2
    positions, weights = [], []
    for scale, above_w, below_w, _ in RINGS:
        positions.append(centre + scale * spoke)
        weights.append(above_w + (below_w - above_w) * below)
    return np.concatenate(positions), np.concatenate(weights)


def _opened_layout(points: np.ndarray) -> np.ndarray:
    """The vertices with everything below the mouth slit moved down by half a mouth width:
    a layout whose triangulation never joins the upper and the lower lip (other than inside the
    mouth) even when the photo's mouth is closed. Each half moves rigidly, so no triangle
    within a half changes orientation."""
    left, right = points[tp.MOUTH_CORNERS[0]], points[tp.MOUTH_CORNERS[1]]
    half = np.linalg.norm(right - left) / 2
    across = (right - left) / (2 * half)
    down = np.array([-across[1], across[0]])
    u, v = points @ across, points @ down
    upper_inner, lower_inner = list(tp.LIPS_INNER[1:10]), list(tp.LIPS_INNER[11:])
    ends = list(tp.MOUTH_CORNERS)
    mid_u = np.r_[u[ends[0]], (u[upper_inner] + u[lower_inner[::-1]]) / 2, u[ends[1]]]
    mid_v = np.r_[v[ends[0]], (v[upper_inner] + v[lower_inner[::-1]]) / 2, v[ends[1]]]
    order = np.argsort(mid_u)
    below = (v > np.interp(u, mid_u[order], mid_v[order])).astype(np.float64)
    below[upper_inner], below[lower_inner], below[ends] = 0, 1, 0.5
    return points + (below * half)[:, None] * down


def _counter_clockwise(triangles: np.ndarray, layout: np.ndarray) -> np.ndarray:
    a, b, c = (layout[triangles[:, i]] for i in range(3))
    cross = (b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]
    return np.where((cross < 0)[:, None], triangles[:, [0, 2, 1]], triangles)


def _vertex_matrix(
    points: np.ndarray, ring_points: np.ndarray, ring_weights: np.ndarray
) -> np.ndarray:
    """[V, 478]: skin vertices copy their landmark; ring vertices take a weighted share of a
    mix of their oval point's motion and the head's rigid motion (the affine least-squares
    fit to the stable landmarks): all linear in the landmarks."""
    n = len(points)
    skin = np.eye(tp.SKIN_LANDMARKS, n)
    stable = list(tp.STABLE)
    fit = RigidFit(points).pinv  # [3, K]
    rings = np.zeros((len(ring_points), n))
    rings[:, stable] = np.c_[ring_points, np.ones(len(ring_points))] @ fit
    follow = np.repeat([ring[3] for ring in RINGS], len(tp.FACE_OVAL))
    rings *= (1 - follow)[:, None]
    rows = np.arange(len(ring_points))
    rings[rows, np.tile(tp.FACE_OVAL, len(RINGS))] += follow
    return np.concatenate([skin, ring_weights[:, None] * rings]).astype(np.float32)


def _next_to(mask: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    near = np.zeros_like(mask)
    near[triangles[mask[triangles].any(axis=1)].ravel()] = True
    return near


def _bounding_box(points: np.ndarray, canvas_size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = canvas_size
    x0, y0 = np.clip(np.floor(points.min(axis=0)).astype(int), 0, [width, height])
    x1, y1 = np.clip(np.ceil(points.max(axis=0)).astype(int) + 1, 0, [width, height])
    return int(x0), int(y0), int(x1), int(y1)


def _rasterise(source: np.ndarray, triangles: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    """Index of the triangle under each pixel of `box` (len(triangles) where none)."""
    x0, y0, x1, y1 = box
    tri_map = np.full((y1 - y0, x1 - x0), len(triangles), np.int32)
    corners = np.rint((source - [x0, y0]) * 16).astype(np.int32)
    inner = set(tp.LIPS_INNER)
    mouth_first = sorted(range(len(triangles)), key=lambda t: not inner.issuperset(triangles[t]))
    for t in mouth_first:  # the lips paint over the mouth slit where a closed mouth overlaps
        cv2.fillConvexPoly(tri_map, corners[triangles[t]], int(t), cv2.LINE_8, shift=4)
    return tri_map


def _grid(box: tuple[int, ...], step: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Grid points placed where cv2.resize samples, so resizing the grid's values is exact."""
    x0, y0, x1, y1 = box
    cols, rows = max(2, -(-(x1 - x0) // step)), max(2, -(-(y1 - y0) // step))
    xs = x0 + (np.arange(cols) + 0.5) * (x1 - x0) / cols - 0.5
    ys = y0 + (np.arange(rows) + 0.5) * (y1 - y0) / rows - 0.5
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32), (rows, cols)


def _barycentric(
    grid: np.ndarray,
    source: np.ndarray,
    triangles: np.ndarray,
    tri_map: np.ndarray,
    box: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = box
    col = np.clip(np.rint(grid[:, 0]).astype(int) - x0, 0, x1 - x0 - 1)
    row = np.clip(np.rint(grid[:, 1]).astype(int) - y0, 0, y1 - y0 - 1)
    tri = tri_map[row, col]
    inside = tri < len(triangles)
    vertices = source[triangles[tri[inside]]]  # [n, 3, 2]
    m = np.concatenate([vertices, np.ones((*vertices.shape[:2], 1))], axis=2)  # rows: (x, y, 1)
    rhs = np.c_[grid[inside], np.ones(inside.sum())]
    weights = np.linalg.solve(np.swapaxes(m, 1, 2), rhs[:, :, None])[:, :, 0]
    corners = np.zeros((len(grid), 3), np.int32)
    bary = np.zeros((len(grid), 3), np.float32)
    corners[inside], bary[inside] = triangles[tri[inside]], weights
    return corners, bary


def _inverse_affines(target: np.ndarray, source: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """[T+1, 2, 3] affine maps from each moved triangle back to the photo; the extra last
    one is the identity for pixels outside the mesh. Collapsed triangles map by translation."""
    t0, s0 = target[triangles[:, 0]], source[triangles[:, 0]]
    te = target[triangles[:, 1:]] - t0[:, None]  # [T, 2 edges, 2]
    se = source[triangles[:, 1:]] - s0[:, None]
    det = te[:, 0, 0] * te[:, 1, 1] - te[:, 0, 1] * te[:, 1, 0]
    ok = np.abs(det) > 1e-3
    inv_det = np.where(ok, 1 / np.where(ok, det, 1), 0)
    # columns of the target edge matrix are the edges; its inverse in closed form
    ti = (
        np.stack(
            [
                np.stack([te[:, 1, 1], -te[:, 1, 0]], axis=1),
                np.stack([-te[:, 0, 1], te[:, 0, 0]], axis=1),
            ],
            axis=1,
        )
        * inv_det[:, None, None]
    )
    linear = np.swapaxes(se, 1, 2) @ ti  # [T, 2, 2]: source edges @ inverse(target edges)
    linear[~ok] = np.eye(2, dtype=np.float32)
    offset = s0 - np.einsum("tij,tj->ti", linear, t0)
    offset[~ok] = (source[triangles].mean(axis=1) - target[triangles].mean(axis=1))[~ok]
    affines = np.zeros((len(triangles) + 1, 2, 3), np.float32)
    affines[:-1, :, :2], affines[:-1, :, 2] = linear, offset
    affines[-1] = [[1, 0, 0], [0, 1, 0]]
    return affines
