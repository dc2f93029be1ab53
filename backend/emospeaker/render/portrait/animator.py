"""One portrait, precomputed; `frame(target)` draws it with its landmarks moved to `target`."""

from __future__ import annotations

import cv2
import numpy as np

from . import regions
from .eyes import EyeLayer
from .mesh import WarpMesh
from .mouth import MouthLayer
from .regions import RigidFit


class PortraitAnimator:
    """The photo on its canvas with everything that depends only on it precomputed."""

    def __init__(self, canvas: np.ndarray, landmarks: np.ndarray) -> None:
        self.canvas = np.ascontiguousarray(canvas)
        self.landmarks = np.asarray(landmarks, np.float32)  # [478, 3] in canvas pixels
        self.source = self.landmarks[:, :2]
        self.mesh = WarpMesh.build(self.source, (canvas.shape[1], canvas.shape[0]))
        self.rigid = RigidFit(self.source)
        self.eyes = EyeLayer(self.source)
        self.mouth = MouthLayer(self.canvas, self.source)

    def frame(self, target: np.ndarray) -> np.ndarray:
        """The canvas with the face moved to landmarks `target` [478, 2+] (canvas pixels)."""
        target = np.asarray(target, np.float32)[:, :2]
        out = self.canvas.copy()
        x0, y0, x1, y1 = self.mesh.box
        out[y0:y1, x0:x1] = cv2.remap(
            self.canvas,
            self.mesh.maps(target - self.source),
            None,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        rigid = self.rigid(target)
        back = regions.invert(rigid)
        self.eyes.draw(out, self.canvas, target, rigid, back)
        self.mouth.draw(out, target, rigid, back)
        return out
