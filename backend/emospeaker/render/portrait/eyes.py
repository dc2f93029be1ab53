"""Eyes: the eyeball stays with the skull while the lids slide over it.

The skin mesh stretches the upper lid down over the eye during a blink; inside the frame's eye
opening this layer shows the photo's eyeball instead, moved only by the head and, around the
iris, by the gaze. A closed eye has no opening left, so it shows only lid skin.

The lid skin that covers the photo's eye opening is the photo's thin upper lid stretched many
times its height, which streaks its creases and lashes into a smear; there the layer smooths
it (a blur as wide as the closing) and draws the lash line along the lid's edge, darker the
more of the eye is covered.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import regions
from . import topology as tp


class EyeLayer:
    def __init__(self, photo: np.ndarray, source: np.ndarray) -> None:
        self.source = np.asarray(source, np.float32)[:, :2]
        self.iris_radius = [
            float(np.linalg.norm(self.source[list(iris[1:])] - self.source[iris[0]], axis=1).mean())
            for _, iris in tp.EYES
        ]
        self.lid_skin = [
            _lid_skin(photo, self.source[list(eye[:9])], radius)
            for (eye, _), radius in zip(tp.EYES, self.iris_radius, strict=True)
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
        for (opening, iris), radius, skin in zip(
            tp.EYES, self.iris_radius, self.lid_skin, strict=True
        ):
            polygon = target[list(opening)]
            photo_opening = regions.apply(rigid, self.source[list(opening)])
            self._lid(frame, polygon, photo_opening, radius, skin)
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

    def _lid(
        self,
        frame: np.ndarray,
        opening: np.ndarray,
        photo_opening: np.ndarray,
        radius: float,
        skin: np.ndarray,
    ) -> None:
        """Smooth the stretched lid skin over the part of the photo's eye opening (moved with
        the head) that the frame's `opening` no longer shows, and draw its lash line."""
        size = (frame.shape[1], frame.shape[0])
        box = regions.box_around(photo_opening, 2 + radius, size)
        if box is None:
            return
        covered = np.clip(
            regions.polygon_mask(photo_opening, box) - regions.polygon_mask(opening, box), 0, 1
        )
        shut = float(covered.sum()) / max(float(regions.polygon_mask(photo_opening, box).sum()), 1)
        if shut < 0.05:
            return
        x0, y0, x1, y1 = box
        sigma = max(0.35 * radius * shut, 0.5)
        smooth = cv2.GaussianBlur(frame[y0:y1, x0:x1], (0, 0), sigma).astype(np.float32)
        smooth = 0.5 * smooth + 0.5 * skin  # the lid's own skin, not the lashes' dark
        alpha = cv2.GaussianBlur(covered, (0, 0), 0.8)
        regions.blend(frame, smooth, alpha, box)
        lid = opening[: len(opening) // 2 + 1]  # outer corner, upper lid, inner corner
        line = np.zeros((y1 - y0, x1 - x0), np.uint8)
        points = np.rint((lid - [x0, y0]) * 16).astype(np.int32)
        cv2.polylines(line, [points], False, 255, max(1, round(radius / 5)), cv2.LINE_AA, 4)
        dark = frame[y0:y1, x0:x1].astype(np.float32) * 0.45
        regions.blend(frame, dark, line.astype(np.float32) / 255 * min(shut, 1) * 0.8, box)


def _lid_skin(photo: np.ndarray, upper: np.ndarray, radius: float) -> np.ndarray:
    """Median colour (RGB 0..255) of the photo's skin just above the upper lid `upper`
    [9, 2] (outer corner, lid, inner corner): the skin a closing lid shows."""
    band = np.concatenate([upper - [0, 0.3 * radius], (upper - [0, 1.0 * radius])[::-1]])
    box = regions.box_around(band, 1, (photo.shape[1], photo.shape[0]))
    if box is None:
        return np.full(3, 128.0, np.float32)
    x0, y0, x1, y1 = box
    pixels = photo[y0:y1, x0:x1][regions.polygon_mask(band, box) > 0.5]
    return np.median(pixels, axis=0).astype(np.float32) if len(pixels) else np.full(3, 128.0)
