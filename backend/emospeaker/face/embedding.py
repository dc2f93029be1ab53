"""MediaPipe's 478 face-mesh landmarks embedded in the built-in head.

MediaPipe is shown a frontal render of the neutral head; each landmark it finds is cast onto
the head along the view direction and stored as a point on a triangle (three vertex ids,
three barycentric weights). Points of the lips' and lids' contours may only land on their
own side of the slit, iris points only on their eyeball. Sampling the head's shape deltas at
these points gives the expression model on MediaPipe's topology, so the head and any face
fitted from landmarks share one definition of every shape.

`scripts/make_face_model.py` runs this and stores the result in face/data/.
"""

from __future__ import annotations

import numpy as np

from .head import Head
from .landmarks import NUM_LANDMARKS, detect_faces

RENDER_SIZE = 1024


def _lip_and_eye_sides() -> dict[str, dict[int, str]]:
    """MediaPipe landmark id -> 'upper'/'lower' for the lip contours and each eye's contour."""
    from mediapipe.python.solutions import face_mesh_connections as c

    def split(connections, upper_ids: set[int], lower_ids: set[int], corners: set[int]):
        """Breadth-first from known upper/lower points, never crossing a corner."""
        neighbours: dict[int, set[int]] = {}
        for a, b in connections:
            neighbours.setdefault(a, set()).add(b)
            neighbours.setdefault(b, set()).add(a)
        side: dict[int, str] = {}
        for seeds, name in ((upper_ids, "upper"), (lower_ids, "lower")):
            frontier = list(seeds)
            while frontier:
                node = frontier.pop()
                if node in side or node in corners:
                    continue
                side[node] = name
                frontier.extend(neighbours[node])
        return side

    lips = split(c.FACEMESH_LIPS, {0, 13}, {17, 14}, {61, 291, 78, 308})
    right_eye = split(c.FACEMESH_RIGHT_EYE, {159}, {145}, {33, 133})
    left_eye = split(c.FACEMESH_LEFT_EYE, {386}, {374}, {263, 362})
    return {"mouth": lips, "eyeRight": right_eye, "eyeLeft": left_eye}


def _project(points_xy: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric coordinates [P, T, 3] of 2D points in 2D triangles [T, 3, 2]."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1 = b - a, c - a
    d00 = np.sum(v0 * v0, -1)
    d01 = np.sum(v0 * v1, -1)
    d11 = np.sum(v1 * v1, -1)
    denom = d00 * d11 - d01 * d01
    denom = np.where(np.abs(denom) < 1e-18, 1e-18, denom)
    v2 = points_xy[:, None, :] - a[None]
    d20 = np.sum(v2 * v0, -1)
    d21 = np.sum(v2 * v1, -1)
    v = (d11 * d20 - d01 * d21) / denom
    w = (d00 * d21 - d01 * d20) / denom
    return np.stack([1 - v - w, v, w], -1), denom


def _segment_closest(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameter t [P, T] and distance [P, T] of the closest point on segments a-b to p."""
    ab = b - a
    t = np.einsum("ptd,td->pt", p[:, None] - a[None], ab) / np.maximum(np.sum(ab * ab, -1), 1e-18)
    t = np.clip(t, 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return t, np.linalg.norm(p[:, None] - closest, axis=-1)


def embed_points(
    head: Head, xy: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cast points (x, y) [P, 2] onto the frontmost of `triangles` [T, 3] (vertex ids) along -z.

    Returns (vertex ids [P, 3], barycentric weights [P, 3]). A point outside all triangles
    lands on the nearest edge (in the x-y plane).
    """
    from scipy.spatial import cKDTree

    v = head.mesh.vertices
    centroids = v[triangles][:, :, :2].mean(axis=1)
    # only triangles near each point can hold it: test the 64 nearest centroids
    _, near = cKDTree(centroids).query(xy, k=min(64, len(triangles)))
    ids, weights = np.zeros((len(xy), 3), np.int64), np.zeros((len(xy), 3))
    for i in range(len(xy)):
        ids[i], weights[i] = _embed_one(v, xy[i : i + 1], triangles[near[i]])
    return ids, weights


def _embed_one(
    v: np.ndarray, xy: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    tri = v[triangles]
    bary, area2 = _project(xy, tri[:, :, :2])
    inside = np.all(bary >= -1e-9, axis=-1) & (np.abs(area2) > 1e-16)[None]
    depth = np.where(inside, np.einsum("ptk,tk->pt", bary, tri[:, :, 2]), -np.inf)
    rows = np.arange(len(xy))
    best = np.argmax(depth, axis=1)
    hit = np.isfinite(depth[rows, best])
    weights = bary[rows, best]
    for i in np.flatnonzero(~hit):
        edges = [(0, 1), (1, 2), (2, 0)]
        found = [_segment_closest(xy[i : i + 1], tri[:, a, :2], tri[:, b, :2]) for a, b in edges]
        dist = np.stack([d[0] for _, d in found])  # [3, T]
        edge, t_id = np.unravel_index(np.argmin(dist), dist.shape)
        a, b = edges[edge]
        t = found[edge][0][0, t_id]
        weights[i] = 0.0
        weights[i, a], weights[i, b] = 1 - t, t
        best[i] = t_id
    return triangles[best][0], weights[0]


def detect_on_head(head: Head) -> np.ndarray:
    """MediaPipe's landmarks on an orthographic front render of the neutral head: [478, 3] in
    the face frame (metres). x and y are where MediaPipe sees the points; z is MediaPipe's own
    depth estimate (its z has the x scale), which is how it will report depth on real faces."""
    from ..errors import EmoSpeakerError
    from ..render.preview import ORTHOGRAPHIC, HeadRenderer

    with HeadRenderer(RENDER_SIZE, "orthographic", head, per_pixel=True) as renderer:
        image = renderer.frame(np.zeros(52))
    faces = detect_faces(image, max_faces=1)
    if not faces:
        raise EmoSpeakerError("MediaPipe found no face on the rendered head")
    (cx, cy), half = ORTHOGRAPHIC
    px = faces[0]
    metres = 2 * half / RENDER_SIZE
    x = cx + (px[:, 0] / RENDER_SIZE - 0.5) * 2 * half
    y = cy - (px[:, 1] / RENDER_SIZE - 0.5) * 2 * half
    return np.stack([x, y, -px[:, 2] * metres], -1)


def embed_mediapipe(head: Head, detected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertex ids [478, 3], barycentric weights [478, 3]) of MediaPipe's landmarks `detected`
    [478, 3] (from `detect_on_head`)."""
    xy = detected[:, :2]
    mesh = head.mesh
    skin_faces = mesh.faces[mesh.part("skin").faces]
    inner = np.zeros(len(mesh.vertices), bool)  # inner lips and lids: never a landmark's place
    for name, ids_ in mesh.groups.items():
        if name.startswith(("mouthUpper", "mouthLower")) and not name.endswith("Edge"):
            inner[ids_] = True
        if name.startswith("eye") and not name.endswith("Edge"):
            inner[ids_] = True
    centroid = mesh.vertices[skin_faces].mean(axis=1)
    front = skin_faces[(centroid[:, 2] > -0.03) & ~inner[skin_faces].any(axis=1)]
    sides = _lip_and_eye_sides()
    ids = np.zeros((NUM_LANDMARKS, 3), np.int64)
    weights = np.zeros((NUM_LANDMARKS, 3))
    groups: dict[tuple[str, str], list[int]] = {}
    for i in range(NUM_LANDMARKS):
        key = ("skin", "")
        for slit, side in sides.items():
            if i in side:
                key = (slit, side[i])
        if i >= 468:  # the irises: 468-472 on the image's left eye, 473-477 the other
            key = ("iris", "eyeLeft" if xy[i, 0] > 0 else "eyeRight")
        groups.setdefault(key, []).append(i)
    for (kind, side), members in groups.items():
        if kind == "skin":
            candidates = front
        elif kind == "iris":
            eye_faces = mesh.faces[mesh.part(side).faces]
            candidates = eye_faces[mesh.vertices[eye_faces].mean(axis=1)[:, 2] > 0]
        else:
            lower = mesh.below[kind][front].all(axis=1)
            upper = ~mesh.below[kind][front].any(axis=1)
            candidates = front[lower if side == "lower" else upper]
        members = np.array(members)
        ids[members], weights[members] = embed_points(head, xy[members], candidates)
    return ids, weights
