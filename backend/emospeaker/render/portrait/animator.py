"""One portrait, precomputed; `frame(target)` draws it with its landmarks moved to `target`."""

from __future__ import annotations

import cv2
import numpy as np

from ...channels import ARKIT_BLENDSHAPES
from ...face.expression import expression_model
from ...face.fit import FaceFit, Similarity, fit_image, to_camera, umeyama
from . import regions
from . import topology as tp
from .eyes import EyeLayer
from .mesh import WarpMesh
from .mouth import MouthLayer
from .regions import RigidFit


class PortraitAnimator:
    """The photo on its canvas with everything that depends only on it precomputed.

    `landmarks` [478, 3] (with MediaPipe's depth) are fitted with the face model, whose pose
    and expression place the mouth interior; with [478, 2] the head is taken as facing the
    camera and the expression as neutral (enough for tests of the warp alone).
    """

    def __init__(self, canvas: np.ndarray, landmarks: np.ndarray) -> None:
        self.canvas = np.ascontiguousarray(canvas)
        self.landmarks = np.asarray(landmarks, np.float32)  # [478, 2 or 3] in canvas pixels
        self.source = self.landmarks[:, :2]
        self.mesh = WarpMesh.build(self.source, (canvas.shape[1], canvas.shape[0]))
        self.rigid = RigidFit(self.source)
        self.eyes = EyeLayer(self.canvas, self.source)
        self.fit: FaceFit | None = None
        if self.landmarks.shape[1] == 3:
            self.fit = fit_image(self.landmarks)
            pose, weights, identity = self.fit.pose, self.fit.weights, self.fit.identity
            own = pose.invert(to_camera(self.landmarks)[None])[0]
        else:
            pose, weights = _frontal_pose(self.source), np.zeros(len(ARKIT_BLENDSHAPES))
            flat = np.c_[self.source, np.zeros(len(self.source))]
            own, identity = pose.invert(to_camera(flat)[None])[0], None
        self.mouth = MouthLayer(self.canvas, self.source, pose, own, weights, identity)

    def frame(
        self,
        target: np.ndarray,
        weights: np.ndarray | None = None,
        head: np.ndarray | None = None,
    ) -> np.ndarray:
        """The canvas with the face moved to landmarks `target` [478, 2+] (canvas pixels);
        `weights` [52] and `head` [6], the frame's channels, shape the mouth interior."""
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
        self.mouth.draw(out, target, weights, head, rigid)
        return out


def _frontal_pose(source: np.ndarray) -> Similarity:
    """Face frame -> canvas for 2D landmarks: the model's stable points onto the photo's,
    rotating only in the image plane."""
    model = expression_model().neutral[list(tp.STABLE)]
    flat = np.c_[model[:, :2], np.zeros(len(model))]
    photo = to_camera(np.c_[source[list(tp.STABLE)], np.zeros(len(tp.STABLE))])
    return umeyama(flat, photo, np.ones(len(tp.STABLE)))
