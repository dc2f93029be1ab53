"""A signed distance function of the head's skin: soft volumes plus a face relief.

Cranium, midface and mandible are smooth unions of ellipsoids; the face's features (brow
ridge, eye sockets, nose, lips, chin, cheekbones) are a relief h(x, y) that pushes the front
of that volume outwards; the lids lie over the eyeballs on spheres. Negative inside.
Distances are approximate (good enough to march rays).
"""

from __future__ import annotations

import numpy as np

from ..anatomy import EYE_CENTER, LID_RADIUS, mirror_x


def ellipsoid(p: np.ndarray, center, radii) -> np.ndarray:
    q = (p - np.asarray(center)) / np.asarray(radii)
    k0 = np.linalg.norm(q, axis=-1)
    k1 = np.linalg.norm(q / np.asarray(radii), axis=-1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-9)


def sphere(p: np.ndarray, center, radius: float) -> np.ndarray:
    return np.linalg.norm(p - np.asarray(center), axis=-1) - radius


def capsule(p: np.ndarray, a, b, radius: float) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    ab = b - a
    h = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - a - h[..., None] * ab, axis=-1) - radius


def smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth union with a blend radius k."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def bump(x, y, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return np.exp(-(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2))


def _sides(fn, x, *args) -> np.ndarray:
    """A left-side feature plus its mirror image (x is the signed left coordinate)."""
    return fn(x, *args) + fn(-x, *args)


def _nose(x, y) -> np.ndarray:
    """Height of the nose over the face: a ridge widening into the tip, then the wings."""
    ridge = np.interp(
        -y,
        [-0.010, -0.004, 0.010, 0.030, 0.039, 0.043, 0.049, 0.054],
        [0.0, 0.0030, 0.0070, 0.0160, 0.0200, 0.0195, 0.0090, 0.0],
    )
    width = np.interp(
        -y,
        [-0.01, 0.0, 0.02, 0.036, 0.046, 0.054],
        [0.0050, 0.0050, 0.0058, 0.0085, 0.0100, 0.0100],
    )
    nose = ridge * np.exp(-(((x / width) ** 2) ** 1.3))
    wings = _sides(lambda u: 0.0085 * bump(u, y, 0.0125, -0.0465, 0.0062, 0.0055), x)
    return np.maximum(nose, wings + 0.25 * nose)


def _mouth(x, y) -> np.ndarray:
    upper = 0.0065 * bump(x, y, 0.0, -0.0690, 0.022, 0.0070) ** 1.0
    lower = 0.0062 * bump(x, y, 0.0, -0.0815, 0.019, 0.0072)
    muzzle = 0.0045 * bump(x, y, 0.0, -0.072, 0.030, 0.020)
    groove = 0.0030 * bump(x, y, 0.0, -0.0750, 0.024, 0.0014)
    philtrum = 0.0008 * bump(x, y, 0.0, -0.060, 0.004, 0.006)
    return upper + lower + muzzle - groove - philtrum


def relief(x, y) -> np.ndarray:
    """Outward offset (metres) of the face's features at (x, y) of the face frame."""
    brow = 0.0045 * bump(x, y, 0.0, 0.019, 0.050, 0.010)
    sockets = _sides(lambda u: bump(u, y, EYE_CENTER[0], 0.001, 0.019, 0.012), x)
    cheeks = _sides(lambda u: 0.0055 * bump(u, y, 0.047, -0.024, 0.016, 0.014), x)
    chin = 0.0070 * bump(x, y, 0.0, -0.108, 0.016, 0.011)
    return brow - 0.008 * sockets + cheeks + chin + _nose(x, y) + _mouth(x, y)


def skin_sdf(p: np.ndarray) -> np.ndarray:
    """Signed distance (metres) of points [..., 3] to the skin of the built-in head."""
    d = ellipsoid(p, (0.0, 0.028, -0.074), (0.075, 0.096, 0.092))  # cranium
    d = smin(d, ellipsoid(p, (0.0, -0.034, -0.030), (0.069, 0.074, 0.044)), 0.016)  # midface
    d = smin(d, ellipsoid(p, (0.0, -0.090, -0.034), (0.052, 0.037, 0.047)), 0.016)  # mandible
    rami = np.minimum(
        capsule(p, (0.046, -0.088, -0.062), (0.052, -0.030, -0.072), 0.011),
        capsule(mirror_x(p), (0.046, -0.088, -0.062), (0.052, -0.030, -0.072), 0.011),
    )
    d = smin(d, rami, 0.018)
    front = np.clip((p[..., 2] + 0.035) / 0.025, 0.0, 1.0)  # relief only on the face
    d = d - front * relief(p[..., 0], p[..., 1])
    lids = np.minimum(
        sphere(p, EYE_CENTER, LID_RADIUS), sphere(mirror_x(p), EYE_CENTER, LID_RADIUS)
    )
    return smin(d, lids, 0.0045)
