"""The assembled neutral head: all parts in one vertex table, with named vertex groups."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import parts as P
from .colors import LASHES, MUCOSA, skin_colors
from .skin import build_skin, lip_and_lid_strips

# the parts' materials and their roughness (shared by the preview and the glTF export)
ROUGHNESS = {"skin": 0.55, "eye": 0.12, "teeth": 0.35, "mouth": 0.8}


@dataclass(frozen=True)
class PartRange:
    name: str
    material: str  # skin, eye, teeth, mouth
    vertices: slice  # its rows of HeadMesh.vertices
    faces: slice  # its rows of HeadMesh.faces


@dataclass(frozen=True)
class HeadMesh:
    vertices: np.ndarray  # [N, 3] neutral, face frame (metres)
    faces: np.ndarray  # [M, 3] global vertex ids
    colors: np.ndarray  # [N, 3]
    parts: tuple[PartRange, ...]
    groups: dict[str, np.ndarray]  # named vertex id sets (slit chains, strips, ...)
    below: dict[str, np.ndarray]  # slit name -> [N] bool: on the lower side of that slit
    follow: tuple[np.ndarray, np.ndarray, np.ndarray]  # (ids, leader ids, amount): the mouth
    # cavity's rim follows the ends of the inner lips, fading backwards
    one_sided: np.ndarray  # [M] bool: faces of outward-wound shells (the skin's surface, the
    # eyeballs) whose back faces never show, so renderers may cull them; the rest are sheets
    # seen from both sides (lip and lid strips, teeth, tongue, cavity, ears, neck)

    def part(self, name: str) -> PartRange:
        return next(p for p in self.parts if p.name == name)

    def part_ids(self, name: str) -> np.ndarray:
        r = self.part(name).vertices
        return np.arange(r.start, r.stop)


def build_mesh() -> HeadMesh:
    skin = build_skin()
    strip_vertices, strip_faces, strips = lip_and_lid_strips(skin)
    n_skin = len(skin.vertices) + len(strip_vertices)
    skin_v = np.concatenate([skin.vertices, strip_vertices])
    skin_f = np.concatenate([skin.faces, strip_faces])
    below = {}
    for name, mask in skin.below.items():
        full = np.zeros(n_skin, bool)
        full[: len(mask)] = mask
        for key, ids in strips.items():
            if key.startswith(name) and key.endswith("Lower"):
                full[ids] = True
        below[name] = full
    colors = skin_colors(skin_v, below["mouth"])
    for key in ("mouthUpper", "mouthLower"):
        colors[strips[key]] = MUCOSA
    for name in ("eyeLeft", "eyeRight"):
        colors[skin.slits[name].upper] = LASHES
        colors[strips[f"{name}Upper"]] = LASHES * 1.5
        colors[strips[f"{name}Lower"]] = MUCOSA
        colors[strips[f"{name}Corners"]] = MUCOSA

    pieces = [P.Part("skin", skin_v, skin_f, colors, "skin")]
    pieces += [P.eyeball(1.0), P.eyeball(-1.0), P.teeth(True), P.teeth(False)]
    ring = _mouth_ring(skin, strips)
    cavity, source, amount = P.cavity(skin_v[ring])
    pieces += [P.tongue(), cavity, P.ear(1.0), P.ear(-1.0), P.neck()]
    vertices, faces, all_colors, ranges = [], [], [], []
    nv = nf = 0
    for piece in pieces:
        vertices.append(piece.vertices)
        faces.append(piece.faces + nv)
        all_colors.append(piece.colors)
        ranges.append(
            PartRange(
                piece.name,
                piece.material,
                slice(nv, nv + len(piece.vertices)),
                slice(nf, nf + len(piece.faces)),
            )
        )
        nv += len(piece.vertices)
        nf += len(piece.faces)
    total = nv
    one_sided = np.zeros(nf, bool)
    one_sided[: len(skin.faces)] = True  # the skin piece comes first; its strips follow
    for r in ranges:
        if r.material == "eye":
            one_sided[r.faces] = True
    below = {k: np.concatenate([m, np.zeros(total - n_skin, bool)]) for k, m in below.items()}
    groups = {k: np.asarray(v) for k, v in strips.items()}
    for name, slit in skin.slits.items():
        groups[f"{name}UpperEdge"] = slit.upper
        groups[f"{name}LowerEdge"] = slit.lower
    groups.update({k: np.array([v]) for k, v in skin.center_ids.items()})
    cavity = next(r for r in ranges if r.name == "mouthCavity").vertices
    cavity_ids = np.arange(cavity.start, cavity.stop)
    return HeadMesh(
        np.concatenate(vertices),
        np.concatenate(faces).astype(np.int64),
        np.concatenate(all_colors) ** 2.2,  # the palette is sRGB; renderers and glTF want linear
        tuple(ranges),
        groups,
        below,
        (cavity_ids, ring[source], amount),
        one_sided,
    )


def _mouth_ring(skin, strips: dict[str, np.ndarray]) -> np.ndarray:
    """Ids of the closed loop where the inner lips end: right corner, upper, left, lower."""
    mouth = skin.slits["mouth"]
    k = len(mouth.upper) - 2  # interior vertices per row
    upper_end = strips["mouthUpper"][-k:]
    lower_end = strips["mouthLower"][-k:]
    return np.concatenate([[mouth.upper[0]], upper_end, [mouth.upper[-1]], lower_end[::-1]])
