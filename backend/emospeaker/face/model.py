"""The face model: ICT FaceKit (MIT, a light-stage scan), the one definition of every ARKit
channel for the built-in head, the previews, fitting, capture and the photo renderer.

    model = load_face_model()
    vertices = model.deform(weights)              # [N, 3] for ARKit weights [52]
    person = model.deform(weights, identity=w)    # with identity weights [K]

The asset (`data/ict_facekit/`) is made from upstream's files by `scripts/make_face_asset.py`,
which says what it keeps and why; its MIT notice and upstream commit sit beside it. Frame:
the face frame of `emospeaker.face.anatomy` (metres, origin between the eyeball centres, +x the
character's left, +y up, +z out of the face).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..channels import ARKIT_BLENDSHAPES

ASSET_DIR = Path(__file__).with_name("data") / "ict_facekit"
ASSET_FILE = ASSET_DIR / "facekit.npz"

# the material each part is drawn with (the irises are their own material inside the eyeballs)
PART_MATERIALS = {
    "face": "skin",
    "head": "skin",
    "mouth_socket": "mouth",
    "eye_socket_left": "skin",
    "eye_socket_right": "skin",
    "gums": "gums",
    "tongue": "tongue",
    "teeth": "teeth",
    "eyeball_left": "sclera",
    "eyeball_right": "sclera",
    "eyelashes_left": "lashes",
    "eyelashes_right": "lashes",
}


@dataclass(frozen=True)
class FaceModel:
    vertices: np.ndarray  # [N, 3] float32 neutral (metres)
    triangles: np.ndarray  # [T, 3] int32
    triangle_material: np.ndarray  # [T] index into material_names
    material_names: tuple[str, ...]
    part_names: tuple[str, ...]
    part_of_vertex: np.ndarray  # [N] index into part_names
    deltas: np.ndarray  # [52, N, 3] float32, ARKIT_BLENDSHAPES order (metres at weight 1)
    identities: np.ndarray  # [K, N, 3] float32 identity components (metres at weight 1)
    landmarks68: np.ndarray  # [68] vertex ids of the iBUG 68 landmarks

    @property
    def neutral(self) -> np.ndarray:
        return self.vertices

    def part_ids(self, *names: str) -> np.ndarray:
        """Vertex ids of the named parts."""
        wanted = [self.part_names.index(n) for n in names]
        return np.flatnonzero(np.isin(self.part_of_vertex, wanted))

    def material_triangles(self, material: str) -> np.ndarray:
        """Triangles [T', 3] drawn with one material."""
        return self.triangles[self.triangle_material == self.material_names.index(material)]

    def shape(self, identity: np.ndarray | None = None) -> np.ndarray:
        """Neutral vertices [N, 3] of a person with identity weights [K] (default: the mean)."""
        if identity is None:
            return self.vertices
        identity = np.asarray(identity, dtype=np.float32)
        k = len(identity)
        return self.vertices + np.tensordot(identity, self.identities[:k], axes=1)

    def deform(self, weights: np.ndarray, identity: np.ndarray | None = None) -> np.ndarray:
        """Vertices [..., N, 3] for ARKit weights [..., 52] on a person (default: the mean)."""
        weights = np.asarray(weights, dtype=np.float32)
        flat = self.deltas.reshape(len(ARKIT_BLENDSHAPES), -1)
        moved = (weights @ flat).reshape(*weights.shape[:-1], -1, 3)
        return self.shape(identity) + moved


def _dense_shapes(data, n_vertices: int) -> np.ndarray:
    deltas = np.zeros((len(ARKIT_BLENDSHAPES), n_vertices, 3), np.float32)
    start = data["shape_start"]
    index, delta = data["shape_index"].astype(np.int64), data["shape_delta_mm"]
    for k in range(len(ARKIT_BLENDSHAPES)):
        rows = slice(start[k], start[k + 1])
        deltas[k, index[rows]] = delta[rows].astype(np.float32) / 1000.0
    return deltas


@lru_cache(maxsize=1)
def load_face_model(path: Path = ASSET_FILE) -> FaceModel:
    """The shipped face model (read once per process)."""
    with np.load(path) as data:
        if tuple(data["channels"]) != ARKIT_BLENDSHAPES:
            raise ValueError(f"{path}: channels differ from ARKIT_BLENDSHAPES; rebuild it")
        vertices = data["vertices"].astype(np.float32)
        return FaceModel(
            vertices=vertices,
            triangles=data["triangles"].astype(np.int32),
            triangle_material=data["triangle_material"],
            material_names=tuple(str(m) for m in data["material_names"]),
            part_names=tuple(str(p) for p in data["part_names"]),
            part_of_vertex=data["part_of_vertex"],
            deltas=_dense_shapes(data, len(vertices)),
            identities=data["identity_mm"].astype(np.float32) / 1000.0,
            landmarks68=data["landmarks68"],
        )
