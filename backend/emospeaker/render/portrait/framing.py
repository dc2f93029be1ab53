"""Choosing the face in a portrait and the canvas the video shows: a square crop around it
(256 or 512 px) or the whole image, so a loosely framed portrait keeps its surroundings."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...errors import InputError, LimitError
from . import topology as tp

CROP_FACE_HEIGHTS = 2.0  # side of a square crop, in face heights (forehead to chin)
MAX_FULL_SIDE = 4096  # --size full: larger portraits are refused (the encoder's and memory's sake)


def choose_face(faces: list[np.ndarray], face_index: int | None, name: str) -> np.ndarray:
    """The face to animate among `faces` (sorted left to right), with a clear error when there
    is none, several and no choice, or the choice does not exist."""
    if not faces:
        raise InputError(f"{name}: no face found", field="portrait")
    if face_index is None:
        if len(faces) > 1:
            raise InputError(
                f"{name}: {len(faces)} faces found; choose one with face index 0..{len(faces) - 1}"
                " (--face N, numbered left to right)",
                field="face_index",
            )
        return faces[0]
    if not 0 <= face_index < len(faces):
        raise InputError(
            f"{name}: face index {face_index} does not exist; {len(faces)} face(s) found "
            f"(0..{len(faces) - 1}, left to right)",
            field="face_index",
        )
    return faces[face_index]


@dataclass(frozen=True)
class Framing:
    """Where the canvas sits in the portrait: portrait pixel = box origin + canvas pixel / scale."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in portrait pixels
    size: tuple[int, int]  # canvas (width, height), both even
    crop: bool  # a square crop resized to `size`; else the whole image, padded to even sides

    @classmethod
    def around(cls, face: np.ndarray, image_size: tuple[int, int], size: int) -> Framing:
        """A square crop around `face` scaled to `size` px, or (size 0) the whole image."""
        width, height = image_size
        if size == 0:
            if max(width, height) > MAX_FULL_SIDE:
                raise LimitError(
                    f"portrait is {width}x{height}; full-size output is limited to "
                    f"{MAX_FULL_SIDE} px a side: use size 512 or a smaller image",
                )
            return cls((0, 0, width, height), (width + width % 2, height + height % 2), False)
        points = face[:, :2]
        face_height = float(np.linalg.norm(points[tp.FACE_OVAL[0]] - points[tp.CHIN]))
        side = int(round(min(CROP_FACE_HEIGHTS * face_height, width, height)))
        centre = points[list(tp.FACE_OVAL)].mean(axis=0)
        x0 = int(np.clip(round(centre[0] - side / 2), 0, width - side))
        y0 = int(np.clip(round(centre[1] - side / 2), 0, height - side))
        return cls((x0, y0, x0 + side, y0 + side), (size, size), True)

    @property
    def scale(self) -> float:
        return self.size[0] / (self.box[2] - self.box[0]) if self.crop else 1.0

    def canvas(self, image: np.ndarray) -> np.ndarray:
        """The portrait as the video's picture: cropped and resized, or padded to even sides."""
        x0, y0, x1, y1 = self.box
        region = image[y0:y1, x0:x1]
        if self.crop:
            if self.size[0] == x1 - x0:
                return region.copy()
            shrink = self.size[0] < x1 - x0
            return cv2.resize(
                region, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
            )
        pad_y, pad_x = self.size[1] - region.shape[0], self.size[0] - region.shape[1]
        return np.pad(region, ((0, pad_y), (0, pad_x), (0, 0)), mode="edge")

    def to_canvas(self, points: np.ndarray) -> np.ndarray:
        """Portrait pixel coordinates (x, y, z...) -> canvas pixels (z scales like x and y)."""
        out = np.array(points, np.float32)
        out[..., :2] -= self.box[:2]
        return out * self.scale
