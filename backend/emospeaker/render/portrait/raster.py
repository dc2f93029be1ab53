"""A small z-buffered triangle rasteriser for the mouth interior (numba, on the CPU).

The interior covers a few thousand pixels of the frame, so drawing it here costs about a
millisecond, where an OpenGL context would cost a readback and a context per renderer. Colours
are per vertex (Gouraud); the caller shades the vertices and supersamples for anti-aliasing.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def vertex_normals(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit normals [N, 3] of a mesh (area-weighted mean of the triangles' normals)."""
    normals = np.zeros(points.shape, np.float32)
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ux, uy, uz = (
            points[b, 0] - points[a, 0],
            points[b, 1] - points[a, 1],
            points[b, 2] - points[a, 2],
        )
        vx, vy, vz = (
            points[c, 0] - points[a, 0],
            points[c, 1] - points[a, 1],
            points[c, 2] - points[a, 2],
        )
        nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx
        for k in (a, b, c):
            normals[k, 0] += nx
            normals[k, 1] += ny
            normals[k, 2] += nz
    for i in range(points.shape[0]):
        length = np.sqrt(normals[i, 0] ** 2 + normals[i, 1] ** 2 + normals[i, 2] ** 2)
        if length > 0:
            normals[i] /= length
    return normals


@numba.njit(cache=True, nogil=True)
def rasterise(
    xy: np.ndarray, depth: np.ndarray, colour: np.ndarray, triangles: np.ndarray, image: np.ndarray,
    zbuffer: np.ndarray,
) -> None:  # fmt: skip
    """Draw triangles into `image` [H, W, 3] (in place) where they are nearer than `zbuffer`
    [H, W] (larger depth = nearer; start it at -inf). `xy` [N, 2] are pixel positions in
    the image (pixel centres at integers), `depth` [N], `colour` [N, 3] per vertex.

    Each row visits only the span of pixels inside the triangle (the edge functions are linear
    in x), and the barycentric weights step along it."""
    height, width = zbuffer.shape
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        ax, ay, bx, by, cx, cy = xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1], xy[c, 0], xy[c, 1]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area) < 1e-9:
            continue
        inv = 1.0 / area
        y0 = max(int(np.ceil(min(ay, by, cy))), 0)
        y1 = min(int(np.floor(max(ay, by, cy))), height - 1)
        left = max(int(np.ceil(min(ax, bx, cx))), 0)
        right = min(int(np.floor(max(ax, bx, cx))), width - 1)
        if y0 > y1 or left > right:
            continue
        # weight of a = ka * x + la * y + ma, likewise b; c = 1 - a - b
        ka, la = -(cy - by) * inv, (cx - bx) * inv
        ma = (bx * cy - by * cx) * inv
        kb, lb = -(ay - cy) * inv, (ax - cx) * inv
        mb = (cx * ay - cy * ax) * inv
        for y in range(y0, y1 + 1):
            lo, hi = float(left), float(right)
            # the span where each weight is >= 0: a, b, then c = 1 - a - b
            for slope, at0 in (
                (ka, la * y + ma),
                (kb, lb * y + mb),
                (-ka - kb, 1 - (la + lb) * y - ma - mb),
            ):
                if slope > 1e-12:
                    lo = max(lo, -at0 / slope)
                elif slope < -1e-12:
                    hi = min(hi, -at0 / slope)
                elif at0 < 0:
                    hi = lo - 1
            x0, x1 = int(np.ceil(lo - 1e-7)), int(np.floor(hi + 1e-7))
            for x in range(x0, x1 + 1):
                wa = ka * x + la * y + ma
                wb = kb * x + lb * y + mb
                wc = 1.0 - wa - wb
                if wa < -1e-6 or wb < -1e-6 or wc < -1e-6:
                    continue
                z = wa * depth[a] + wb * depth[b] + wc * depth[c]
                if z <= zbuffer[y, x]:
                    continue
                zbuffer[y, x] = z
                for k in range(3):
                    image[y, x, k] = wa * colour[a, k] + wb * colour[b, k] + wc * colour[c, k]


@numba.njit(cache=True, nogil=True)
def shade(
    normals: np.ndarray, base: np.ndarray, shine: np.ndarray, reach: np.ndarray,
    dark: np.ndarray, light: np.ndarray, ambient: float,
) -> np.ndarray:  # fmt: skip
    """Vertex colours [N, 3] for a viewer looking down -z: ambient plus diffuse light from
    direction `light` on `base` [N, 3], a Blinn glint of strength `shine` [N], and, where
    `reach` [N] < 1, a fade towards `dark` [3]. Two-sided: a normal facing away is flipped."""
    half = light + np.array([0.0, 0.0, 1.0], np.float32)
    half = half / np.sqrt((half**2).sum())
    out = np.empty(base.shape, np.float32)
    for i in range(normals.shape[0]):
        flip = -1.0 if normals[i, 2] < 0 else 1.0
        nx, ny, nz = flip * normals[i, 0], flip * normals[i, 1], flip * normals[i, 2]
        lit = min(max(nx * light[0] + ny * light[1] + nz * light[2], 0.0), 1.0)
        glint = min(max(nx * half[0] + ny * half[1] + nz * half[2], 0.0), 1.0) ** 24 * shine[i]
        for k in range(3):
            value = base[i, k] * (ambient + (1 - ambient) * lit) + 0.6 * glint
            value = value * reach[i] + dark[k] * (1 - reach[i])
            out[i, k] = min(max(value, 0.0), 1.0)
    return out
