"""Where each part of the face moves from: smooth per-vertex weights over the head.

Weights that must respect the slits (the jaw carries the lower lip but not the upper; a lid
moves above its eye but not below) are harmonic functions on the skin's mesh graph with
fixed values at a few places. The slits are cuts in that graph, so the weights are
discontinuous across the lips and lids and smooth everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .. import anatomy as A
from .mesh import HeadMesh

SIDES = {"Left": 1.0, "Right": -1.0}


def harmonic(faces: np.ndarray, count: int, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Solve the graph Laplace equation with `values` at the `fixed` vertex ids."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    adjacency = sp.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), (count, count))
    adjacency.data[:] = 1.0
    laplacian = sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    result = np.zeros(count)
    result[fixed] = values
    free = np.setdiff1d(np.arange(count), fixed)
    rhs = -laplacian[free][:, fixed] @ values
    result[free] = spla.spsolve(laplacian[free][:, free].tocsc(), rhs)
    return np.clip(result, 0.0, 1.0)


@dataclass(frozen=True)
class Regions:
    skin: np.ndarray  # [N] bool: skin, inner lips and lids
    jaw: np.ndarray  # [N] 0..1: how much a vertex follows the lower jaw
    upper_lid: dict[str, np.ndarray]  # side -> [N] 0..1
    lower_lid: dict[str, np.ndarray]
    eyeball: dict[str, np.ndarray]  # side -> [N] bool
    upper_lip: np.ndarray  # [N] 0..1: closeness to the upper lip's edge (upper side only)
    lower_lip: np.ndarray
    tongue: np.ndarray  # [N] bool


def _interior(chain: np.ndarray) -> np.ndarray:
    return chain[1:-1]


def _lip_jaw(mesh: HeadMesh, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """Jaw weights along a lip's edge and inner lip: 1/2 at the corners (they are shared),
    0 (upper) or 1 (lower) from a third of the way in, so the open mouth is rounded."""
    which = "Upper" if upper else "Lower"
    ids = np.concatenate(
        [_interior(mesh.groups[f"mouth{which}Edge"]), mesh.groups[f"mouth{which}"]]
    )
    corner_x = abs(mesh.vertices[mesh.groups["mouthUpperEdge"][0], 0])
    t = np.clip(np.abs(mesh.vertices[ids, 0]) / corner_x, 0.0, 1.0)
    toward_middle = 1.0 - np.clip((t - 0.55) / 0.45, 0.0, 1.0) ** 2
    return ids, 0.5 + (-0.5 if upper else 0.5) * toward_middle


def _jaw(mesh: HeadMesh) -> np.ndarray:
    part = mesh.part("skin").vertices
    p = mesh.vertices[part]
    faces = mesh.faces[mesh.part("skin").faces]
    upper_ids, upper_w = _lip_jaw(mesh, True)
    lower_ids, lower_w = _lip_jaw(mesh, False)
    ones = np.flatnonzero((p[:, 1] < -0.098) & (p[:, 2] > -0.085))
    zeros = np.flatnonzero((p[:, 1] > -0.050) | (p[:, 2] < -0.095))
    zeros = np.setdiff1d(zeros, ones)
    fixed = np.concatenate([upper_ids, lower_ids, ones, zeros])
    values = np.concatenate([upper_w, lower_w, np.ones(len(ones)), np.zeros(len(zeros))])
    jaw = np.zeros(len(mesh.vertices))
    jaw[part] = harmonic(faces, len(p), fixed, values)
    for name in ("teethLower", "tongue"):
        jaw[mesh.part_ids(name)] = 1.0
    ids, leaders, _ = mesh.follow
    jaw[ids] = jaw[leaders]  # the cavity's lower half goes with the jaw
    return jaw


def _lid(mesh: HeadMesh, side: str, upper: bool) -> np.ndarray:
    name = f"eye{side}"
    center = A.EYE_CENTER * (SIDES[side], 1, 1)
    part = mesh.part("skin").vertices
    p = mesh.vertices[part]
    faces = mesh.faces[mesh.part("skin").faces]
    which = "Upper" if upper else "Lower"
    ones = np.concatenate([_interior(mesh.groups[f"{name}{which}Edge"]), mesh.groups[name + which]])
    reach = 0.021 if upper else 0.017
    other_side = mesh.below[name][part] if upper else ~mesh.below[name][part]
    far = np.linalg.norm(p - center, axis=1) > reach
    zeros = np.setdiff1d(np.flatnonzero(far | other_side), ones)
    fixed = np.concatenate([ones, zeros])
    values = np.concatenate([np.ones(len(ones)), np.zeros(len(zeros))])
    weight = np.zeros(len(mesh.vertices))
    weight[part] = harmonic(faces, len(p), fixed, values)
    return weight


def _lip_closeness(mesh: HeadMesh, upper: bool, radius: float = 0.008) -> np.ndarray:
    which = "Upper" if upper else "Lower"
    edge = mesh.vertices[mesh.groups[f"mouth{which}Edge"]]
    part = mesh.part_ids("skin")
    p = mesh.vertices[part]
    d = np.min(np.linalg.norm(p[:, None, :] - edge[None, :, :], axis=2), axis=1)
    same_side = mesh.below["mouth"][part] != upper
    weight = np.zeros(len(mesh.vertices))
    weight[part] = np.exp(-((d / radius) ** 2)) * same_side
    weight[mesh.groups[f"mouth{which}"]] = 1.0
    return weight


def build_regions(mesh: HeadMesh) -> Regions:
    skin = np.zeros(len(mesh.vertices), bool)
    skin[mesh.part_ids("skin")] = True
    eyeball = {}
    for side in SIDES:
        mask = np.zeros(len(mesh.vertices), bool)
        mask[mesh.part_ids(f"eye{side}")] = True
        eyeball[side] = mask
    tongue = np.zeros(len(mesh.vertices), bool)
    tongue[mesh.part_ids("tongue")] = True
    return Regions(
        skin=skin,
        jaw=_jaw(mesh),
        upper_lid={s: _lid(mesh, s, True) for s in SIDES},
        lower_lid={s: _lid(mesh, s, False) for s in SIDES},
        eyeball=eyeball,
        upper_lip=_lip_closeness(mesh, True),
        lower_lip=_lip_closeness(mesh, False),
        tongue=tongue,
    )
