"""Eyes: the eyeball stays with the skull while the lids slide over it.

The skin mesh stretches the upper lid down over the eye during a blink; inside the frame's eye
opening this layer shows the photo's eyeball instead, moved only by the head and, around the
iris, by the gaze. A closed eye has no opening left, so it shows only the stretched lid skin.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import regions
from . import topology as tp


class EyeLayer:
    def __init__(self, source: np.ndarray) -> None:
        self.source = np.asarray(source, np.float32)[:, :2]
        self.iris_radius = [
            float(np.linalg.norm(self.source[list(iris[1:])] - self.source[iris[0]], axis=1).mean())
            for _, iris in tp.EYES
        ]

    def draw(
        self,
        frame: np.ndarray,
        photo: np.ndarray,
        target: np.ndarray,
        rigid: np.ndarray,
        back: np.ndarray,
    ) -> None:
        """Paint both eyeballs of `photo` into `frame` (in place) for landmarks `target`;
        `rigid` is the head's motion (photo -> frame), `back` its inverse."""
        size = (frame.shape[1], frame.shape[0])
        for (opening, iris), radius in zip(tp.EYES, self.iris_radius, strict=True):
            polygon = target[list(opening)]
            box = regions.box_around(polygon, 2, size)
            if box is None:
                continue
            alpha = regions.polygon_mask(polygon, box)
            if not alpha.any():
                continue
            x, y = regions.pixel_grid(box)
            gaze = target[iris[0]] - regions.apply(rigid, self.source[iris[0]])
            near = np.exp(-((x - target[iris[0], 0]) ** 2 + (y - target[iris[0], 1]) ** 2)
                          / (2 * (1.6 * radius) ** 2))  # fmt: skip
            x, y = x - gaze[0] * near, y - gaze[1] * near
            map_x = back[0, 0] * x + back[0, 1] * y + back[0, 2]
            map_y = back[1, 0] * x + back[1, 1] * y + back[1, 2]
            eyeball = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR, cv2.BORDER_REPLICATE)
            regions.blend(frame, eyeball, alpha, box)
