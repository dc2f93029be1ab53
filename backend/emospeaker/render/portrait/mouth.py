"""The mouth interior a closed-mouth photo lacks: cavity, upper and lower teeth, tongue.

Drawn procedurally inside the frame's inner-lip contour, in a mouth frame taken from the photo:
the upper teeth move with the skull (the rigid head fit), the lower teeth and the tongue with
the jaw (the chin's motion beyond the head's). Colours come from the photo: the cavity and
tongue from the lips, the enamel's brightness and tint from the skin, so the interior sits in
the same light. Edges are anti-aliased and the lips shade what is just inside them.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import regions
from . import topology as tp

# tooth borders across the mouth (fractions of the half mouth width, from the middle out);
# incisors are wide, the arch turns away so the back teeth look narrow
UPPER_GAPS = np.array([0.0, 0.30, 0.52, 0.68, 0.80, 0.89, 0.96])
LOWER_GAPS = np.array([0.0, 0.2, 0.4, 0.58, 0.73, 0.85, 0.94])
ENAMEL = np.array([0.93, 0.89, 0.80], np.float32)
TONGUE = np.array([0.55, 0.28, 0.27], np.float32)
JAW_SHARE = 0.7  # the lower incisors move this fraction of the chin's motion
LOWER_CROWN = 0.2  # most of the lower teeth that shows above the lower lip (half mouth widths)


class MouthLayer:
    def __init__(self, photo: np.ndarray, source: np.ndarray) -> None:
        s = np.asarray(source, np.float32)[:, :2]
        self.source = s
        left, right = s[tp.LIPS_OUTER[0]], s[tp.LIPS_OUTER[10]]
        self.half_width = float(np.linalg.norm(right - left)) / 2
        self.centre = (s[tp.UPPER_LIP_MID] + s[tp.LOWER_LIP_MID]) / 2
        axis = (right - left) / (2 * self.half_width)
        self.axis = axis
        self.down = np.array([-axis[1], axis[0]], np.float32)  # image y grows downwards
        self.gap = _gap(s)
        self.lip, self.skin = _colours(photo, s)
        tint = self.skin / max(float(self.skin.mean()), 1e-3)
        light = np.clip(float(self.skin.mean()) / 0.55, 0.55, 1.15)
        self.enamel = np.clip(ENAMEL * light * (0.85 + 0.15 * tint) * 0.9 + 0.1 * self.lip, 0, 1)
        self.tongue = np.clip(TONGUE * light * (0.7 + 0.3 * tint), 0, 1)

    def draw(
        self, frame: np.ndarray, target: np.ndarray, rigid: np.ndarray, back: np.ndarray
    ) -> None:
        """Paint the interior inside `target`'s inner lips where the mouth opens beyond the
        photo's (in place); `rigid` is the head's motion (photo -> frame), `back` its inverse."""
        polygon = target[list(tp.LIPS_INNER)]
        reveal = _smoothstep(0.9 * self.gap, 1.3 * self.gap + 1.5, _gap(target))
        box = regions.box_around(polygon, 2, (frame.shape[1], frame.shape[0]))
        if reveal <= 0 or box is None:
            return
        inside = regions.polygon_mask(polygon, box)
        if not inside.any():
            return
        # reach a little over the lips' inner edge, where the photo's closed slit is stretched
        grow = 2 * int(round(1 + 0.04 * _gap(target))) + 1
        alpha = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0.7) * reveal
        x, y = regions.pixel_grid(box)
        jaw = JAW_SHARE * (target[tp.CHIN] - regions.apply(rigid, self.source[tp.CHIN]))
        upper = self._mouth_coords(back, x, y)
        lower = self._mouth_coords(back, x - jaw[0], y - jaw[1])
        lip_u, lip_v = self._mouth_coords(back, *(target[list(tp.LIPS_INNER[11:])] - jaw).T)
        lower_lip = np.interp(lower[0], lip_u[::-1], lip_v[::-1])  # the lip's inner edge
        depth = cv2.distanceTransform((inside > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        image = self._paint(upper, lower, lower_lip, depth)
        regions.blend(frame, image * 255, alpha, box)

    def _mouth_coords(self, back: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple:
        """(u, v) in the photo's mouth frame: u across (-1..1 corner to corner), v down,
        both in half mouth widths."""
        px = back[0, 0] * x + back[0, 1] * y + back[0, 2] - self.centre[0]
        py = back[1, 0] * x + back[1, 1] * y + back[1, 2] - self.centre[1]
        u = (px * self.axis[0] + py * self.axis[1]) / self.half_width
        v = (px * self.down[0] + py * self.down[1]) / self.half_width
        return u, v

    def _paint(
        self, upper: tuple, lower: tuple, lower_lip: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        px = 1 / self.half_width  # one pixel in mouth units: the anti-aliasing width
        u, v = upper
        ul, vl = lower
        # cavity: dark and warm, darkest in the middle at the back
        depth = np.clip(1 - np.abs(u), 0, 1)
        image = (self.lip * (0.3 - 0.14 * depth)[..., None]).astype(np.float32)
        # lower teeth: jaw-borne, their edge hidden behind the upper teeth when the jaw is shut;
        # the lower lip covers all but the top of their crowns
        edge = np.maximum(0.06 + 0.12 * ul**2, lower_lip - LOWER_CROWN)
        edge += _notches(ul, LOWER_GAPS, px)
        # tongue: a dome behind the lower teeth, rising over them in the middle
        top = edge - 0.12 + 0.8 * ul**2
        tongue = _cover(vl - top, px) * _cover(0.85 - np.abs(ul), 2 * px)
        shade = np.clip(0.35 + 2.5 * (vl - top), 0.35, 0.9)[..., None]
        image = _mix(image, self.tongue * shade, tongue)
        lower_teeth = _cover(vl - edge, px) * _cover(0.88 - np.abs(ul), 2 * px)
        image = _mix(image, self._enamel(ul, LOWER_GAPS, px, 0.78), lower_teeth)
        # upper teeth: skull-borne, in front of the lower ones
        edge = 0.10 - 0.08 * u**2 - _notches(u, UPPER_GAPS, px)
        upper_teeth = _cover(edge - v, px) * _cover(0.92 - np.abs(u), 2 * px)
        image = _mix(image, self._enamel(u, UPPER_GAPS, px, 0.95), upper_teeth)
        # the lips shade what is just inside them
        occlusion = 1 - 0.45 * np.exp(-inside * px / 0.06)
        return np.clip(image * occlusion[..., None], 0, 1)

    def _enamel(self, u: np.ndarray, gaps: np.ndarray, px: float, light: float) -> np.ndarray:
        """Teeth colour: darker towards the corners where the arch turns away, dark seams."""
        seam = 1 - 0.22 * np.exp(-((_to_gap(u, gaps) / max(0.7 * px, 0.01)) ** 2))
        falloff = light * (1 - 0.75 * np.clip(np.abs(u), 0, 1) ** 3) * seam
        falloff = falloff[..., None]  # shaded enamel takes the warm colour of the cavity
        return self.enamel * falloff + self.lip * 0.3 * (1 - falloff)


def _gap(points: np.ndarray) -> float:
    """Mean inner-lip opening (px) over the middle of the mouth."""
    upper = points[list(tp.LIPS_INNER[3:8])]
    lower = points[list(tp.LIPS_INNER[13:18])][::-1]
    return float(np.linalg.norm(upper - lower, axis=1).mean())


def _colours(photo: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median lip colour and cheek-skin colour of the photo (RGB in 0..1)."""
    size = (photo.shape[1], photo.shape[0])

    def median_in(polygon: np.ndarray, hole: np.ndarray | None = None) -> np.ndarray:
        box = regions.box_around(polygon, 1, size)
        mask = regions.polygon_mask(polygon, box) > 0.5
        if hole is not None:
            mask &= regions.polygon_mask(hole, box) < 0.5
        x0, y0, x1, y1 = box
        pixels = photo[y0:y1, x0:x1][mask]
        return np.median(pixels, axis=0).astype(np.float32) / 255 if len(pixels) else None

    lip = median_in(points[list(tp.LIPS_OUTER)], points[list(tp.LIPS_INNER)])
    radius = 0.06 * float(np.linalg.norm(points[tp.FACE_OVAL[8]] - points[tp.FACE_OVAL[28]]))
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    circle = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    cheeks = [median_in(points[c] + circle) for c in tp.CHEEKS]
    skin = np.mean([c for c in cheeks if c is not None], axis=0)
    return (lip if lip is not None else skin * [0.8, 0.5, 0.5]), skin


def _cover(signed: np.ndarray, px: float) -> np.ndarray:
    """Coverage of a soft edge: 0 below -px/2, 1 above +px/2."""
    return np.clip(0.5 + signed / px, 0, 1)


def _mix(under: np.ndarray, over: np.ndarray, amount: np.ndarray) -> np.ndarray:
    return under + amount[..., None] * (over - under)


def _to_gap(u: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Distance from u to the nearest tooth border (borders mirror about the middle)."""
    return np.abs(np.abs(u)[..., None] - gaps).min(axis=-1)


def _notches(u: np.ndarray, gaps: np.ndarray, px: float) -> np.ndarray:
    """Rounded tooth tips: the edge recedes a little at each border."""
    return 0.012 * np.exp(-((_to_gap(u, gaps) / max(1.5 * px, 0.025)) ** 2))


def _smoothstep(lo: float, hi: float, x: float) -> float:
    t = min(max((x - lo) / max(hi - lo, 1e-6), 0.0), 1.0)
    return t * t * (3 - 2 * t)
