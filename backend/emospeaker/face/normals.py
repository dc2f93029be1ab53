"""Vertex normals of (batches of) triangle meshes, fast enough to recompute every frame."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def face_to_vertex(faces: np.ndarray, vertex_count: int) -> sp.csr_matrix:
    """Sparse [vertices, faces] incidence: summing face vectors onto their corners."""
    rows = faces.ravel()
    cols = np.repeat(np.arange(len(faces)), 3)
    data = np.ones(len(rows), np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(vertex_count, len(faces)))


def vertex_normals(
    vertices: np.ndarray, faces: np.ndarray, incidence: sp.csr_matrix | None = None
) -> np.ndarray:
    """Area-weighted unit normals [N, 3]; pass `incidence` to reuse it across frames."""
    a, b, c = (np.take(vertices, faces[:, i], axis=0) for i in range(3))  # take: 3x fancy's speed
    face_normals = np.cross(b - a, c - a)
    if incidence is None:
        incidence = face_to_vertex(faces, len(vertices))
    normals = np.asarray(incidence @ face_normals, np.float32)
    length = np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
    return normals / np.maximum(length, 1e-12)
