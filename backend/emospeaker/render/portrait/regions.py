"""Small geometry helpers shared by the eye and mouth layers: rigid fits, polygon masks."""

from __future__ import annotations

import cv2
import numpy as np

from . import topology as tp


class RigidFit:
    """The head's motion in the image: the affine least-squares map of the stable landmarks.

    Precomputed once per photo, so each frame's fit is one [3, K] @ [K, 2] product.
    """

    def __init__(self, source: np.ndarray) -> None:
        stable = np.asarray(source, np.float64)[list(tp.STABLE), :2]
        # [3, K]: (x, y, 1) of the stable landmarks' least-squares inverse
        self.pinv = np.linalg.pinv(np.c_[stable, np.ones(len(stable))]).astype(np.float32)

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """[2, 3] affine taking photo pixels to frame pixels."""
        return (self.pinv @ np.asarray(target, np.float32)[list(tp.STABLE), :2]).T


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def invert(affine: np.ndarray) -> np.ndarray:
    """The inverse of a [2, 3] affine map (closed form: np.linalg.inv costs more here)."""
    (a, b, tx), (c, d, ty) = affine.tolist()
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]], np.float32)


def box_around(
    points: np.ndarray, margin: float, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Integer (x0, y0, x1, y1) around `points` plus `margin` px, clipped to (width, height);
    None when nothing of it lies on the canvas."""
    x0, y0 = np.floor(points.min(axis=0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(axis=0) + margin).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, size[0]), min(y1, size[1])
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def polygon_mask(polygon: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Anti-aliased coverage (float32 0..1) of `polygon` over the pixels of `box`."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    corners = np.rint((polygon - [x0, y0]) * 16).astype(np.int32)
    cv2.fillPoly(mask, [corners], 255, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255


def pixel_grid(box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = box
    return np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))


def blend(canvas: np.ndarray, layer: np.ndarray, alpha: np.ndarray, box: tuple) -> None:
    """canvas[box] = alpha * layer + (1 - alpha) * canvas[box], in place (uint8 RGB)."""
    x0, y0, x1, y1 = box
    under = canvas[y0:y1, x0:x1].astype(np.float32)
    mixed = under + alpha[:, :, None] * (layer.astype(np.float32) - under)
    canvas[y0:y1, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
