"""The mouth interior a closed-mouth photo lacks: the face model's teeth, gums, tongue and
mouth socket (ICT FaceKit), deformed by each frame's ARKit weights and drawn in the photo's
head pose.

Placement: the interior is the fitted person's (ICT's teeth, gums and tongue under the photo's
fitted identity), in the face frame where the fit put their face, so the upper teeth hang from
the skull behind the lips as ICT has them on this face. What the fit leaves unexplained moves
it: MediaPipe's lip points on the model (the expression model samples ICT at them), with the
photo's fitted expression, are scaled to the photo's mouth width and moved onto its upper lip.
Only a raise of the upper lip by the fitted expression (a smile: more teeth show) is taken, up
to MAX_RAISE: a portrait's fitted expression can be far off (wrinkles read as expression), and
a lip a few millimetres too low hides the teeth. Each frame the interior takes the track's jaw
and tongue weights (jawOpen lowers the lower teeth, gums and tongue as the model defines) and
head channels.

Look: Gouraud-shaded vertices (a key light from just above the camera, a specular glint on
the enamel), darkening with depth behind the lips (the back of the mouth gets little light),
colours in the photo's light (brightness from the cheek skin, white balance from its warmth
only, see `white_balance`; the cavity's colour from the lips). It is drawn only inside the
frame's inner-lip contour, shaded near the lips' edge towards the cavity's colour, so the
photo's lips occlude it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ...channels import ARKIT_BLENDSHAPES
from ...face.expression import expression_model
from ...face.fit import Similarity
from ...face.model import load_face_model
from ...face.pose import head_transform
from . import regions
from . import topology as tp
from .motion import ABSOLUTE
from .raster import rasterise, shade, vertex_normals

# base colours (linear-ish RGB 0..1) of the interior's materials under neutral light
ENAMEL = np.array([0.95, 0.91, 0.82], np.float32)
TONGUE = np.array([0.85, 0.45, 0.45], np.float32)
GUMS = np.array([0.88, 0.52, 0.52], np.float32)
SOCKET = np.array([0.40, 0.13, 0.13], np.float32)
MATERIALS = ("teeth", "gums", "tongue", "mouth")  # the model's materials drawn, and their
GLOSS = (0.5, 0.15, 0.2, 0.0)  # specular strengths
REFERENCE_SKIN = np.array([0.80, 0.60, 0.50], np.float32)  # a skin tone in neutral light
LIGHT = np.array([0.0, 0.25, 1.0], np.float32) / np.sqrt(1.0625)  # camera frame, above the lens
AMBIENT = 0.45
# how far the lips darken what is just inside them, towards the cavity's colour (a shadow
# inside a mouth is lit by the lips and gums around it: dark red, not black); more, and the
# enamel of a mid-speech opening, all of it near a lip, turns a dull khaki beside the skin
LIP_SHADE = 0.35
SHADOW_DEPTH = 0.03  # metres behind the lips over which the light falls off by e
SUPERSAMPLE = 2  # drawn at this many samples a pixel side, then averaged (anti-aliasing)
SUPERSAMPLE_UP_TO = 160  # px: wider mouths (full-size portraits) have edges to spare
# the MediaPipe inner-lip points that place the interior: corners and middles
PHOTO_LIPS = (78, 13, 308, 14)
JAW = ARKIT_BLENDSHAPES.index("jawOpen")
# how far the photo's fitted expression may have raised its upper lip off the teeth (metres):
# a smiling photo's lips rest higher than the person's neutral ones, so the upper teeth show more
# once the mouth opens; a fit that claims more (or that the lip was lowered) is not trusted, as
# a few millimetres too low hide the teeth altogether
MAX_RAISE = 0.003
# the channels that move the interior itself; the lips' own channels would fold the lip lining
# of the model's socket over the teeth, where the photo's lips (not the model's) are in front
MOVES_INTERIOR = ("jawOpen", "jawForward", "jawLeft", "jawRight", "tongueOut")


@dataclass(frozen=True)
class Interior:
    """The face model's mouth interior: its own vertices, shapes and materials."""

    vertices: np.ndarray  # [n, 3] neutral (face frame, metres)
    channels: np.ndarray  # [c] the MOVES_INTERIOR channels' indices
    deltas: np.ndarray  # [c, n * 3] their offsets
    triangles: np.ndarray  # [t, 3] into vertices
    colour: np.ndarray  # [n, 3] base colour
    shine: np.ndarray  # [n] specular strength
    reach: np.ndarray  # [n] share of the light reaching each vertex (less deeper inside)
    identities: np.ndarray  # [K, n, 3] ICT's identity components
    incisor: int  # the vertex at the middle of the upper incisors' edge

    def person(self, identity: np.ndarray | None) -> Interior:
        """The interior of the person with identity weights `identity` [K'] (None: the mean
        face)."""
        if identity is None or not len(identity):
            return self
        identity = np.asarray(identity, np.float32)
        shaped = self.vertices + np.tensordot(identity, self.identities[: len(identity)], 1)
        return dataclasses.replace(self, vertices=shaped.astype(np.float32))

    def deform(self, weights: np.ndarray) -> np.ndarray:
        """Vertices [n, 3] for ARKit weights [52] (only MOVES_INTERIOR count)."""
        # einsum, not @: BLAS would spread these thin products over threads that spin
        moved = np.einsum("k,kn->n", np.asarray(weights, np.float32)[self.channels], self.deltas)
        return self.vertices + moved.reshape(-1, 3)


@lru_cache(maxsize=1)
def interior() -> Interior:
    """The interior cut out of the shipped face model (once per process)."""
    model = load_face_model()
    parts = [model.material_triangles(m) for m in MATERIALS]
    parts[-1] = _behind_the_teeth(model, parts[-1])
    used, local = np.unique(np.concatenate(parts), return_inverse=True)
    colour = np.zeros((len(used), 3), np.float32)
    shine = np.zeros(len(used), np.float32)
    material = np.repeat(np.arange(len(MATERIALS)), [p.size for p in parts])
    for i, (base, gloss) in enumerate(zip((ENAMEL, GUMS, TONGUE, SOCKET), GLOSS, strict=True)):
        colour[local[material == i]], shine[local[material == i]] = base, gloss
    lip_ids = model.landmarks68[[60, 62, 64, 66]]  # iBUG 68's inner lips
    channels = np.array([ARKIT_BLENDSHAPES.index(name) for name in MOVES_INTERIOR])
    # depth behind the lips at rest: the jaw carries its vertices' light with it as it opens
    behind = np.maximum(model.vertices[lip_ids, 2].mean() - model.vertices[used, 2], 0)
    return Interior(
        vertices=model.vertices[used],
        channels=channels,
        deltas=np.ascontiguousarray(model.deltas[channels][:, used].reshape(len(channels), -1)),
        triangles=local.reshape(-1, 3).astype(np.int32),
        colour=colour,
        shine=shine,
        reach=np.exp(-behind / SHADOW_DEPTH).astype(np.float32),
        identities=np.ascontiguousarray(model.identities[:, used]),
        incisor=int(np.searchsorted(used, _upper_incisor_edge(model))),
    )


@lru_cache(maxsize=1)
def _incisal_display() -> float:
    """How far (metres) the upper incisors' edge hangs below the upper lip's inner edge
    (MediaPipe's landmark 13) on the face model's mean face at rest: 2.2 mm, the display of
    adults at rest (about 2 mm for men, 3.4 mm for women, less with age: Vig and Brundo,
    1978). The landmarks say nothing about where the teeth are, and ICT's identity components
    move the lips over the teeth as freely as a scanned population allowed (on Grace Hopper's
    fit the edge would rise to the lip line, hiding the teeth), so every face gets this."""
    edge = interior()
    return float(expression_model().neutral[PHOTO_LIPS[1], 1] - edge.vertices[edge.incisor, 1])


def _upper_incisor_edge(model) -> int:
    """The face model's vertex at the middle of the upper incisors' cutting edge: the lowest
    point of the teeth the jaw does not move, within 4 mm of the midline."""
    teeth = np.unique(model.material_triangles("teeth"))
    jaw = np.linalg.norm(model.deltas[JAW, teeth], axis=1)
    upper = teeth[(jaw < 1e-5) & (np.abs(model.vertices[teeth, 0]) < 0.004)]
    return int(upper[np.argmin(model.vertices[upper, 1])])


def _behind_the_teeth(model, socket: np.ndarray) -> np.ndarray:
    """The socket's triangles [T, 3] without the lip and cheek lining in front of the dental
    arch: the photo's lips cover that, and where its mouth is wider than the model's the
    lining would cut across the side teeth."""
    arch = model.vertices[model.part_ids("teeth", "gums")]
    bins = np.round(arch[:, 0] * 1000).astype(int)  # 1 mm columns across the mouth
    front = np.full(bins.max() - bins.min() + 1, -np.inf)
    np.maximum.at(front, bins - bins.min(), arch[:, 2])
    centres = model.vertices[socket].mean(axis=1)
    column = np.clip(np.round(centres[:, 0] * 1000).astype(int) - bins.min(), 0, len(front) - 1)
    return socket[centres[:, 2] < front[column]]


class MouthLayer:
    def __init__(
        self,
        photo: np.ndarray,
        source: np.ndarray,
        pose: Similarity,
        own: np.ndarray,
        weights: np.ndarray,
        identity: np.ndarray | None = None,
    ) -> None:
        """`source` [478, 2] the photo's landmarks (pixels); `pose` maps the face frame to the
        camera frame (pixels, y up); `own` [478, 3] the photo's landmarks in the face frame,
        `weights` [52] its fitted expression (which each frame's weights include) and
        `identity` [K] its fitted identity (None: the mean face)."""
        self.model = interior().person(identity)
        self.source = np.asarray(source, np.float32)[:, :2]
        self.pose = pose
        self.gap = _gap(self.source)
        # the photo's own jaw and tongue, relative to which the track moves them: kept out of
        # the interior's weights, as the photo's measured lips already place it
        self.photo_weights = np.asarray(weights, np.float32).copy()
        self.photo_weights[[ARKIT_BLENDSHAPES.index(name) for name in ABSOLUTE]] = 0
        self._place(np.asarray(own, np.float64)[list(PHOTO_LIPS)], weights, identity)
        self.palette = _palette(photo, self.source)
        self.base = self.model.colour * self.palette["tint"] * self.palette["light"]

    def _place(
        self, photo_lips: np.ndarray, weights: np.ndarray, identity: np.ndarray | None
    ) -> None:
        """Move the interior from where the fit puts it onto the photo's lips `photo_lips`
        [4, 3] (PHOTO_LIPS, face frame): the model's same points on the fitted person with the
        fitted expression are scaled by the mouth's width, and the upper incisors are hung
        `_incisal_display()` below the photo's upper lip at rest, lower by what the fitted
        expression raised that lip (at most MAX_RAISE)."""
        points = expression_model()
        ids = list(PHOTO_LIPS)
        rest = points.shape(identity)[ids]
        lips = points.deform(np.asarray(weights, np.float64), points.shape(identity))[ids]
        raised = np.clip(lips[1, 1] - rest[1, 1], 0, MAX_RAISE)
        lips[1, 1] = self.model.vertices[self.model.incisor, 1] + _incisal_display() + raised
        width = np.linalg.norm(lips[2, :2] - lips[0, :2])
        scale = np.linalg.norm(photo_lips[2, :2] - photo_lips[0, :2]) / width
        self.scale = float(np.clip(scale, 0.8, 1.25))
        jaw_lips = points.deltas[JAW, ids]
        self.jaw_gap = float(self.pose.scale * self.scale * (jaw_lips[1, 1] - jaw_lips[3, 1]))
        self.photo_jaw = float(np.clip(self.gap / max(self.jaw_gap, 1e-3), 0, 1))
        self.centre = np.array([(lips[0, 0] + lips[2, 0]) / 2, lips[1, 1], lips[1, 2]])
        anchor = [(photo_lips[0, 0] + photo_lips[2, 0]) / 2, photo_lips[1, 1], photo_lips[1, 2]]
        self.offset = np.asarray(anchor) - self.centre

    def draw(
        self,
        frame: np.ndarray,
        target: np.ndarray,
        weights: np.ndarray | None = None,
        head: np.ndarray | None = None,
        motion: np.ndarray | None = None,
    ) -> None:
        """Paint the interior inside `target`'s inner lips where the mouth opens beyond the
        photo's (in place), for the frame's ARKit `weights` [52] (default: the jaw opened as
        far as the lips are) and head channels [6]. Without head channels, `motion` ([2, 3]
        photo -> frame pixels, the head's motion fitted to the landmarks) moves it."""
        polygon = target[list(tp.LIPS_INNER)]
        gap = _gap(target)
        reveal = _smoothstep(0.9 * self.gap, 1.3 * self.gap + 1.5, gap)
        box = regions.box_around(polygon, 3, (frame.shape[1], frame.shape[0]))
        if reveal <= 0 or box is None:
            return
        inside = regions.polygon_mask(polygon, box)
        if not inside.any():
            return
        if weights is None:
            weights = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
            weights[JAW] = self.photo_jaw + (gap - self.gap) / max(self.jaw_gap, 1e-3)
        weights = np.clip(np.asarray(weights, np.float32) - self.photo_weights, 0, 1)
        image = self._render(weights, head, motion, box)
        # exactly inside the lips: the stretched inner edge of the photo's lips reads as their
        # wet margin, and covering it would thin the lower lip
        alpha = cv2.GaussianBlur(inside, (3, 3), 0.7) * reveal
        # the lips shade what is just inside them (LIP_SHADE)
        depth = cv2.distanceTransform((inside > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        shade = 1 - LIP_SHADE * np.exp(-depth / max(0.08 * self.jaw_gap, 1.0))
        image = image * shade[..., None] + self.palette["cavity"] * (1 - shade[..., None])
        regions.blend(frame, image * 255, alpha, box)

    def _render(
        self, weights: np.ndarray, head: np.ndarray | None, motion: np.ndarray | None, box: tuple
    ) -> np.ndarray:
        """The shaded interior over the pixels of `box`, RGB float 0..1."""
        linear, shift = self._to_camera(head)
        points = self.model.deform(weights)
        camera = np.einsum("nj,ij->ni", points, linear) + shift  # x right, y up, z to camera
        normals = vertex_normals(camera, self.model.triangles)
        colour = shade(normals, self.base, self.model.shine, self.model.reach,
                       self.palette["cavity"], LIGHT, AMBIENT)  # fmt: skip
        x0, y0, x1, y1 = box
        samples = SUPERSAMPLE if x1 - x0 <= SUPERSAMPLE_UP_TO else 1
        xy = np.stack([camera[:, 0], -camera[:, 1]], axis=1)  # canvas pixels
        if head is None and motion is not None:
            motion = np.asarray(motion, np.float32)
            xy = np.einsum("nj,ij->ni", xy, motion[:, :2]) + motion[:, 2]
        xy = (xy - [x0 - 0.5, y0 - 0.5]) * samples - 0.5
        xy = xy.astype(np.float32)
        shape = ((y1 - y0) * samples, (x1 - x0) * samples)
        image = np.empty((*shape, 3), np.float32)
        image[:] = self.palette["cavity"]
        zbuffer = np.full(shape, -np.inf, np.float32)
        rasterise(xy, camera[:, 2], colour, self.model.triangles, image, zbuffer)
        if samples == 1:
            return image
        return cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)

    def _to_camera(self, head: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The affine map (float32 [3, 3], [3]) taking the model's interior to the camera
        frame: the fit onto the photo's lips, the head channels, the photo's pose."""
        linear = self.pose.scale * self.pose.rotation
        shift = self.pose.translation.astype(np.float64)
        if head is not None:
            turn = head_transform(np.asarray(head, np.float64))
            shift = linear @ turn[:3, 3] + shift
            linear = linear @ turn[:3, :3]
        anchor = self.centre * (1 - self.scale) + self.offset  # face = scale * model + anchor
        shift = linear @ anchor + shift
        return (linear * self.scale).astype(np.float32), shift.astype(np.float32)


def _palette(photo: np.ndarray, points: np.ndarray) -> dict:
    """The photo's light: white balance (tint) and brightness from the skin, cavity colour
    from the lips."""
    lip, skin = _colours(photo, points)
    light = float(np.clip(skin.mean() / REFERENCE_SKIN.mean(), 0.5, 1.1))
    cavity = np.clip(lip * 0.22, 0, 1).astype(np.float32)
    return {"tint": white_balance(skin), "light": light, "cavity": cavity}


def white_balance(skin: np.ndarray) -> np.ndarray:
    """The light's colour [3] (mean 1) that the interior takes, from the cheek skin's colour
    `skin` [3] (RGB 0..1): warm or neutral, never green or blue.

    A skin's colour is its own as much as the light's: an olive, sallow or pale skin under
    white light, or an orange one under warm light, departs from REFERENCE_SKIN by its tone
    too, and taking all of that departure as the light dyed the enamel (green-grey beside an
    olive skin, teal beside a pale one, khaki beside an orange one). Real light lies near the
    blackbody line, warm to cool, with green about the mean of red and blue; so only the
    skin's warmth (red over blue) is taken, half of it (the other half is the skin's own tone),
    at most 10 %, and a cool skin gives neutral light (a bluish enamel never reads as teeth
    beside skin)."""
    tint = (skin / skin.mean()) / (REFERENCE_SKIN / REFERENCE_SKIN.mean())
    warmth = float(np.clip(0.25 * (tint[0] - tint[2]) / tint.mean(), 0, 0.1))
    return np.array([1 + warmth, 1, 1 - warmth], np.float32)


def _gap(points: np.ndarray) -> float:
    """Mean inner-lip opening (px) over the middle of the mouth, measured across the corners'
    line: lips pushed past each other (a frame that closes the photo's lips further) are
    closed, 0, not open."""
    upper = points[list(tp.LIPS_INNER[3:8])]
    lower = points[list(tp.LIPS_INNER[13:18])][::-1]
    across = points[tp.MOUTH_CORNERS[1]] - points[tp.MOUTH_CORNERS[0]]
    down = np.array([-across[1], across[0]]) / max(float(np.linalg.norm(across)), 1e-6)
    return max(float(((lower - upper) @ down).mean()), 0.0)


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


def _smoothstep(lo: float, hi: float, x: float) -> float:
    t = min(max((x - lo) / max(hi - lo, 1e-6), 0.0), 1.0)
    return t * t * (3 - 2 * t)
