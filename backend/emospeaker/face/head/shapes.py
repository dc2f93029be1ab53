"""The 52 ARKit expression shapes, defined once as displacement fields over the head.

Each shape moves vertices by anatomical operations in the face frame: the jaw turns about
its hinge, lids roll over the eyeballs, eyes rotate, lip corners are pulled along the
directions of the muscles ARKit's names refer to (zygomaticus for a smile, depressor anguli
oris for a frown, ...). Weights come from `regions`. Left shapes are written out; Right shapes
are their mirror images, so every pair is exactly symmetric.

The MediaPipe expression model samples these same fields at landmarks embedded in the head
(see `emospeaker.face.expression`), so the head and any fitted face move alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from ...channels import ARKIT_BLENDSHAPES, mirror
from .. import anatomy as A
from .mesh import HeadMesh
from .regions import Regions

MIN_MOTION = 2e-5  # metres: smaller displacements are dropped (keeps exports sparse)


def rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] about a unit axis by angles [...] (right-handed)."""
    x, y, z = axis / np.linalg.norm(axis)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    angle = np.asarray(angle)[..., None, None]
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def rotate_about(
    p: np.ndarray, pivot: np.ndarray, axis: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """Displacement of points p [N, 3] turned about an axis through pivot by angle [N]."""
    r = rotation(np.asarray(axis, float), angle)
    q = p - pivot
    return np.einsum("nij,nj->ni", r, q) - q


def gauss(p: np.ndarray, center, radii) -> np.ndarray:
    q = (p - np.asarray(center)) / np.asarray(radii)
    return np.exp(-np.sum(q * q, axis=-1))


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


class ShapeBuilder:
    """Evaluates the shapes on a head mesh (`deltas()` -> [52, N, 3])."""

    def __init__(self, mesh: HeadMesh, regions: Regions) -> None:
        self.mesh, self.r = mesh, regions
        self.p = mesh.vertices
        self.skin = regions.skin.astype(float)
        g = mesh.groups
        self.corner = self.p[g["mouthUpperEdge"][-1]]  # the left mouth corner
        self.upper_lip_mid = self.p[g["upperLipCenter"][0]]
        self.lower_lip_mid = self.p[g["lowerLipCenter"][0]]
        width = np.abs(self.corner[0])
        self.mouth_span = np.clip(1 - (self.p[:, 0] / (width + 0.004)) ** 2, 0, 1)
        self.jaw_open = self._jaw_open()

    # -- helpers --------------------------------------------------------------------------
    def _left(self, width: float = 0.006) -> np.ndarray:
        return smoothstep(-width, width, self.p[:, 0])

    def _move(self, weight: np.ndarray, vector) -> np.ndarray:
        return weight[:, None] * np.asarray(vector, float)[None, :]

    def _lid_angles(self, side: str) -> tuple[Callable, Callable]:
        """Blink rotations (upper down, lower up) as functions of x, from the lid margins."""
        center = A.EYE_CENTER * ((1 if side == "Left" else -1), 1, 1)
        g = self.mesh.groups
        up, lo = self.p[g[f"eye{side}UpperEdge"]], self.p[g[f"eye{side}LowerEdge"]]

        def angle(q):
            return np.arctan2(q[:, 1] - center[1], q[:, 2] - center[2])

        a_up, a_lo = angle(up), angle(lo)
        closed = a_lo + 0.22 * (a_up - a_lo)  # lids meet a fifth of the way up
        order = np.argsort(up[:, 0])
        xs = up[order, 0]

        def along(values):
            return lambda x: np.interp(x, xs, values[order], left=0.0, right=0.0)

        return along(a_up - closed), along(closed - a_lo)

    def _lids(self, side: str, upper_angle, lower_angle) -> np.ndarray:
        """Roll the lids over the eyeball: angles [N] (positive: downwards)."""
        center = A.EYE_CENTER * ((1 if side == "Left" else -1), 1, 1)
        up = rotate_about(self.p, center, (1, 0, 0), upper_angle * self.r.upper_lid[side])
        lo = rotate_about(self.p, center, (1, 0, 0), lower_angle * self.r.lower_lid[side])
        return up + lo

    def _eye_turn(self, side: str, axis, angle: float) -> np.ndarray:
        center = A.EYE_CENTER * ((1 if side == "Left" else -1), 1, 1)
        w = self.r.eyeball[side] * angle
        return rotate_about(self.p, center, axis, w)

    def _jaw_open(self) -> np.ndarray:
        hinge = np.array([0.0, A.JAW_HINGE[1], A.JAW_HINGE[2]])
        turn = rotate_about(self.p, hinge, (1, 0, 0), A.JAW_OPEN_ANGLE * self.r.jaw)
        slide = self._move(self.r.jaw, (0.0, -0.002, 0.001))  # the condyles glide forward
        return turn + slide

    def _lips(self, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Closeness to each lip's edge with a chosen reach (the regions' is 8 mm)."""
        up = self.r.upper_lip ** ((0.008 / radius) ** 2)
        lo = self.r.lower_lip ** ((0.008 / radius) ** 2)
        return up * self.mouth_span, lo * self.mouth_span

    # -- eyes -----------------------------------------------------------------------------
    def eyeBlinkLeft(self):
        upper, lower = self._lid_angles("Left")
        x = self.p[:, 0]
        return self._lids("Left", upper(x), -lower(x))

    def _gaze_lids(self, angle: float) -> np.ndarray:
        return self._lids("Left", 0.55 * angle, 0.30 * angle)

    def eyeLookDownLeft(self):
        a = A.GAZE_ANGLE * 0.85
        return self._eye_turn("Left", (1, 0, 0), a) + self._gaze_lids(a)

    def eyeLookUpLeft(self):
        a = -A.GAZE_ANGLE * 0.8
        return self._eye_turn("Left", (1, 0, 0), a) + self._gaze_lids(a)

    def eyeLookInLeft(self):
        return self._eye_turn("Left", (0, 1, 0), -A.GAZE_ANGLE)

    def eyeLookOutLeft(self):
        return self._eye_turn("Left", (0, 1, 0), A.GAZE_ANGLE)

    def eyeSquintLeft(self):
        upper, lower = self._lid_angles("Left")
        x = self.p[:, 0]
        lids = self._lids("Left", 0.18 * upper(x), -1.5 * lower(x))
        crow = gauss(self.p, (0.050, 0.0, 0.0), (0.009, 0.009, 0.02)) * self.skin
        return lids + self._move(crow, (-0.0012, 0.0006, 0.0))

    def eyeWideLeft(self):
        upper, lower = self._lid_angles("Left")
        x = self.p[:, 0]
        return self._lids("Left", -0.55 * upper(x), 0.15 * lower(x))

    # -- jaw ------------------------------------------------------------------------------
    def jawOpen(self):
        return self.jaw_open

    def jawForward(self):
        return self._move(self.r.jaw, (0.0, 0.0, 0.0065))

    def jawLeft(self):
        hinge = np.array([0.0, A.JAW_HINGE[1], A.JAW_HINGE[2]])
        swing = rotate_about(self.p, hinge, (0, 1, 0), 0.10 * self.r.jaw)
        return swing + self._move(self.r.jaw, (0.002, 0.0, 0.0))

    # -- mouth ----------------------------------------------------------------------------
    def mouthClose(self):
        """Lips together however far the jaw is open (ARKit uses it on top of jawOpen): at
        full jawOpen the lips meet 45% of the way down the lower lip's drop, corners too."""
        up, lo = self.r.upper_lip**0.5, self.r.lower_lip**0.5  # reach ~11 mm
        edge = self.mesh.groups["mouthLowerEdge"]
        order = np.argsort(self.p[edge, 0])
        xs = self.p[edge[order], 0]
        drop = np.stack(
            [np.interp(self.p[:, 0], xs, self.jaw_open[edge[order], k]) for k in range(3)], 1
        )
        return np.maximum(up, lo)[:, None] * (0.45 * drop - self.jaw_open)

    def mouthFunnel(self):
        up, lo = self._lips(0.010)
        lips = np.maximum(up, lo)
        x = self.p[:, 0]
        round_ = 1 - (x / np.abs(self.corner[0])).clip(-1, 1) ** 2
        d = self._move(lips, (0.0, 0.0, 0.0065))
        d[:, 0] -= 0.30 * x * self._around_mouth()
        d[:, 1] += 0.0035 * round_ * up - 0.0050 * round_ * lo
        return d

    def _around_mouth(self) -> np.ndarray:
        return gauss(self.p, (0.0, -0.075, 0.01), (0.036, 0.016, 0.03)) * self.skin

    def mouthPucker(self):
        up, lo = self._lips(0.012)
        lips = np.maximum(up, lo)
        d = self._move(lips, (0.0, 0.0, 0.0075))
        d[:, 0] -= 0.40 * self.p[:, 0] * self._around_mouth()
        d[:, 1] -= 0.0012 * up - 0.0012 * lo  # lips press together as they purse
        return d

    def mouthLeft(self):
        around = gauss(self.p, (0.0, -0.076, 0.01), (0.045, 0.018, 0.03)) * self.skin
        return self._move(around, (0.0075, 0.0, -0.001))

    def _corner(self, radii=(0.014, 0.012, 0.02)) -> np.ndarray:
        return gauss(self.p, self.corner, radii) * self.skin

    def mouthSmileLeft(self):
        pull = self._move(self._corner((0.017, 0.014, 0.02)), (0.0068, 0.0088, -0.0032))
        cheek = gauss(self.p, (0.036, -0.045, 0.0), (0.017, 0.017, 0.03)) * self.skin
        upper, lower = self._lid_angles("Left")
        lids = self._lids("Left", 0.0, -0.12 * lower(self.p[:, 0]))
        return pull + self._move(cheek, (0.0012, 0.0042, 0.0030)) + lids

    def mouthFrownLeft(self):
        pull = self._move(self._corner((0.014, 0.013, 0.02)), (0.0012, -0.0080, -0.0008))
        chin = gauss(self.p, (0.02, -0.095, 0.0), (0.012, 0.012, 0.03)) * self.skin
        return pull + self._move(chin, (0.0, -0.0015, 0.0))

    def mouthDimpleLeft(self):
        return self._move(self._corner((0.012, 0.011, 0.02)), (0.0030, 0.0004, -0.0050))

    def mouthStretchLeft(self):
        pull = self._move(self._corner((0.018, 0.016, 0.03)), (0.0065, -0.0035, -0.0020))
        _, lo = self._lips(0.010)
        return pull + self._move(lo * self._left(0.008), (0.0, -0.0015, 0.0))

    def mouthRollLower(self):
        _, lo = self._lips(0.0075)
        return self._move(lo, (0.0, 0.0030, -0.0062))

    def mouthRollUpper(self):
        up, _ = self._lips(0.0075)
        return self._move(up, (0.0, -0.0025, -0.0062))

    def mouthShrugLower(self):
        _, lo = self._lips(0.011)
        chin = gauss(self.p, (0.0, -0.100, 0.01), (0.024, 0.016, 0.03)) * self.skin
        chin = chin * self.mesh.below["mouth"]
        return self._move(np.maximum(lo, chin), (0.0, 0.0042, 0.0022))

    def mouthShrugUpper(self):
        up, _ = self._lips(0.010)
        return self._move(up, (0.0, 0.0032, 0.0016))

    def mouthPressLeft(self):
        up, lo = self._lips(0.006)
        left = self._left(0.010)
        return self._move(up * left, (0.0, -0.0012, -0.0016)) + self._move(
            lo * left, (0.0, 0.0014, -0.0016)
        )

    def mouthLowerDownLeft(self):
        _, lo = self._lips(0.011)
        side = gauss(self.p, (0.012, -0.08, 0.0), (0.014, 0.03, 0.05))
        return self._move(lo * side, (0.0005, -0.0065, 0.0008))

    def mouthUpperUpLeft(self):
        up, _ = self._lips(0.011)
        side = gauss(self.p, (0.012, -0.07, 0.0), (0.014, 0.03, 0.05))
        return self._move(up * side, (0.0, 0.0062, 0.0010))

    # -- brows, cheeks, nose, tongue --------------------------------------------------------
    def _brow(self, center, radii) -> np.ndarray:
        return gauss(self.p, center, radii) * self.skin

    def browDownLeft(self):
        w = self._brow((0.028, 0.021, 0.0), (0.022, 0.012, 0.03))
        return self._move(w, (-0.0030, -0.0075, 0.0010))

    def browInnerUp(self):
        w = np.maximum(
            self._brow((0.015, 0.022, 0.0), (0.013, 0.013, 0.03)),
            self._brow((-0.015, 0.022, 0.0), (0.013, 0.013, 0.03)),
        )
        d = self._move(w, (0.0, 0.0090, 0.0))
        d[:, 0] -= 0.08 * self.p[:, 0] * w
        return d

    def browOuterUpLeft(self):
        return self._move(self._brow((0.045, 0.020, 0.0), (0.016, 0.012, 0.03)), (0, 0.0085, 0))

    def cheekPuff(self):
        """Air in the cheeks: they swell outwards, the lips press and push forward a little."""
        w = (
            np.maximum(
                gauss(self.p, (0.044, -0.066, 0.0), (0.024, 0.022, 0.035)),
                gauss(self.p, (-0.044, -0.066, 0.0), (0.024, 0.022, 0.035)),
            )
            * self.skin
        )
        outwards = self.p - np.array([0.0, -0.066, -0.035])
        outwards /= np.linalg.norm(outwards, axis=1, keepdims=True)
        up, lo = self._lips(0.010)
        lips = self._move(np.maximum(up, lo), (0, 0, 0.0020))
        return 0.0125 * w[:, None] * outwards + lips

    def cheekSquintLeft(self):
        w = gauss(self.p, (0.040, -0.026, 0.0), (0.020, 0.013, 0.03)) * self.skin
        _, lower = self._lid_angles("Left")
        lids = self._lids("Left", 0.0, -0.5 * lower(self.p[:, 0]))
        return self._move(w, (0.0, 0.0050, 0.0016)) + lids

    def noseSneerLeft(self):
        wing = gauss(self.p, (0.013, -0.043, 0.01), (0.010, 0.011, 0.03)) * self.skin
        side = gauss(self.p, (0.012, -0.030, 0.01), (0.010, 0.014, 0.03)) * self.skin
        lip = gauss(self.p, (0.010, -0.062, 0.01), (0.010, 0.008, 0.03)) * self.skin
        lip = lip * ~self.mesh.below["mouth"]
        return (
            self._move(wing, (0.0, 0.0055, 0.0010))
            + self._move(side, (0.0, 0.0025, 0.0))
            + self._move(lip, (0.0, 0.0028, 0.0))
        )

    def tongueOut(self):
        """The tongue slides out over the lower lip; the jaw drops a little to let it."""
        d = self._move(self.r.tongue.astype(float), (0.0, 0.0045, 0.0265))
        up, lo = self._lips(0.010)
        span = self.mouth_span**2
        lips = self._move(up * span, (0, 0.0015, 0.0)) + self._move(lo * span, (0, -0.0035, 0))
        return d + 0.28 * self.jaw_open + lips

    def _outside_eyeballs(self, delta: np.ndarray) -> np.ndarray:
        """Skin that a shape pushes into an eyeball slides over it instead (the lids' sphere):
        brows pulling the upper lid down must not bare the eye through the skin."""
        for sign in (1.0, -1.0):
            center = A.EYE_CENTER * (sign, 1, 1)
            moved = self.p + delta
            offset = moved - center
            r = np.linalg.norm(offset, axis=1)
            inside = (r < A.LID_RADIUS) & self.r.skin & (r > 1e-9)
            # the lids' inner strips sit just above the eyeball: keep their own clearance
            floor = np.where(
                np.linalg.norm(self.p - center, axis=1) < A.LID_RADIUS - 1e-4,
                np.linalg.norm(self.p - center, axis=1),
                A.LID_RADIUS,
            )
            inside &= r < floor
            scale = floor[inside] / r[inside]
            delta[inside] = center + offset[inside] * scale[:, None] - self.p[inside]
        return delta

    # -- all ------------------------------------------------------------------------------
    def deltas(self) -> np.ndarray:
        """[52, N, 3] float32 in ARKIT_BLENDSHAPES order; Right shapes mirror Left ones."""
        mirror_ids = mirror_map(self.mesh)
        flip = np.array([-1.0, 1.0, 1.0])
        out = np.zeros((len(ARKIT_BLENDSHAPES), len(self.p), 3))
        for i, name in enumerate(ARKIT_BLENDSHAPES):
            if name.endswith("Right"):
                left = self._outside_eyeballs(getattr(self, mirror(name))())
                out[i] = left[mirror_ids] * flip
            else:
                out[i] = self._outside_eyeballs(getattr(self, name)())
        ids, leaders, amount = self.mesh.follow
        out[:, ids] = amount[:, None] * out[:, leaders] + (1 - amount[:, None]) * out[:, ids]
        out[np.linalg.norm(out, axis=2) < MIN_MOTION] = 0.0  # cut the falloffs' far tails
        return out.astype(np.float32)


def mirror_map(mesh: HeadMesh) -> np.ndarray:
    """For every vertex, the id of its mirror image across the mid-sagittal plane.

    Coincident vertices (the two copies of a closed slit, the mouth cavity's rim on the inner
    lips) are told apart by their part and by which side of the slit they bound.
    """
    key = mesh.vertices.copy()
    key[:, 2] += 10.0 * mesh.below["mouth"]  # separate the mouth slit's copies
    kinds = sorted({p.name.removesuffix("Left").removesuffix("Right") for p in mesh.parts})
    for part in mesh.parts:  # a left part's image is its right twin
        kind = part.name.removesuffix("Left").removesuffix("Right")
        key[part.vertices, 1] += 10.0 * kinds.index(kind)
    image = A.mirror_x(key)
    tree = cKDTree(key)
    dist, ids = tree.query(image)
    if dist.max() > 1e-7:
        raise AssertionError(f"the head is not mirror-symmetric (off by {dist.max():.2e} m)")
    return ids
