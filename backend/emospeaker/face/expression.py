"""The expression model on MediaPipe's 478-point face-mesh topology.

`neutral` [478, 3] are MediaPipe's landmarks on the built-in head (x, y where MediaPipe
sees them, z its own depth estimate, shifted onto the head) and `deltas` [52, 478, 3] the
head's ARKit shapes sampled at those points (see `emospeaker.face.embedding`): one
definition of every shape for the head and for faces fitted from landmarks. Frame and units
are the face frame's (metres, +x the character's left, +y up, +z out of the face).

The arrays are generated from the head by `scripts/make_face_model.py` and stored in
face/data/, so fitting needs neither the head's construction nor a renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..channels import ARKIT_BLENDSHAPES
from .pose import apply_head_pose

MODEL_FILE = Path(__file__).with_name("data") / "expression_model.npz"


@dataclass(frozen=True)
class ExpressionModel:
    neutral: np.ndarray  # [478, 3] float64
    deltas: np.ndarray  # [52, 478, 3] float64
    vertex_ids: np.ndarray  # [478, 3] head vertices each landmark lies between
    barycentric: np.ndarray  # [478, 3] weights of those vertices
    detected: np.ndarray  # [478, 3] where MediaPipe saw the landmarks on the head

    @classmethod
    def from_head(
        cls, head, vertex_ids: np.ndarray, barycentric: np.ndarray, detected: np.ndarray
    ) -> ExpressionModel:
        """Sample the head's shape deltas at embedded points; `detected` [478, 3] is what
        MediaPipe saw (see the module docstring)."""
        surface = np.einsum("pk,pkd->pd", barycentric, head.mesh.vertices[vertex_ids])
        neutral = detected.astype(np.float64).copy()
        neutral[:, 2] += np.mean(surface[:, 2] - neutral[:, 2])
        deltas = np.einsum("pk,spkd->spd", barycentric, head.deltas[:, vertex_ids].astype(float))
        return cls(neutral, deltas, vertex_ids, barycentric, detected)

    def deform(
        self,
        weights: np.ndarray,
        neutral: np.ndarray | None = None,
        head: np.ndarray | None = None,
    ) -> np.ndarray:
        """Landmarks [..., 478, 3] of `neutral` (default: the model's) with blendshape weights
        [..., 52] and optionally the six head channels [..., 6] applied."""
        weights = np.asarray(weights, dtype=np.float64)
        base = self.neutral if neutral is None else np.asarray(neutral, dtype=np.float64)
        points = base + np.einsum("...k,kpd->...pd", weights, self.deltas)
        return points if head is None else apply_head_pose(points, head)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            neutral=self.neutral,
            deltas=self.deltas,
            vertex_ids=self.vertex_ids,
            barycentric=self.barycentric,
            detected=self.detected,
            shapes=np.array(ARKIT_BLENDSHAPES),
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> ExpressionModel:
        with np.load(path) as data:
            if tuple(data["shapes"]) != ARKIT_BLENDSHAPES:
                raise ValueError(f"{path}: shapes differ from ARKIT_BLENDSHAPES; regenerate it")
            return cls(
                data["neutral"],
                data["deltas"],
                data["vertex_ids"],
                data["barycentric"],
                data["detected"],
            )


@lru_cache(maxsize=1)
def expression_model() -> ExpressionModel:
    """The shipped model (face/data/expression_model.npz)."""
    return ExpressionModel.load()
