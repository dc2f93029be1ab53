"""Per-vertex colours of the skin: skin tone, lips, brows, lash lines, cheeks and hair."""

from __future__ import annotations

import numpy as np

from .. import anatomy as A

SKIN = np.array([0.80, 0.61, 0.51])
LIPS = np.array([0.66, 0.36, 0.36])
MUCOSA = np.array([0.62, 0.30, 0.32])
BROWS = np.array([0.27, 0.19, 0.14])
HAIR = np.array([0.22, 0.15, 0.11])
LASHES = np.array([0.12, 0.09, 0.08])


def _smooth(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _mix(base: np.ndarray, color: np.ndarray, amount: np.ndarray) -> np.ndarray:
    return base + (color - base) * amount[:, None]


def lip_amount(p: np.ndarray, below: np.ndarray) -> np.ndarray:
    """1 on the lips' red (vermilion), 0 off it; `below`: the vertex is on the lower lip side."""
    x, y = p[:, 0], p[:, 1]
    corner = A.MOUTH_CORNER[0]
    t = np.clip(np.abs(x) / corner, 0, 1)
    line = A.STOMION[1] + (A.MOUTH_CORNER[1] - A.STOMION[1]) * t**2
    bow = 0.0011 * np.exp(-((x / 0.0032) ** 2))  # Cupid's bow
    upper = (
        line
        + 0.0078 * (1 - t**2) ** 0.55
        - bow
        + 0.0006 * np.exp(-(((np.abs(x) - 0.006) / 0.004) ** 2))
    )
    lower = line - 0.0090 * (1 - (np.abs(x) / (corner - 0.001)).clip(0, 1) ** 2) ** 0.7
    soft = 0.0011  # a soft border hides the grid's steps
    inside = np.where(
        below,
        _smooth(lower - soft, lower + soft, y),
        _smooth(-upper - soft, -upper + soft, -y),
    )
    return inside * (np.abs(x) < corner + 0.002) * (p[:, 2] > -0.01)


def _brow_amount(p: np.ndarray) -> np.ndarray:
    x, y = np.abs(p[:, 0]), p[:, 1]
    center = np.interp(x, [0.010, 0.018, 0.036, 0.052, 0.060], [0.013, 0.017, 0.0225, 0.018, 0.013])
    half = np.interp(x, [0.010, 0.020, 0.040, 0.060], [0.0022, 0.0030, 0.0022, 0.0008])
    along = _smooth(0.010, 0.015, x) * (1 - _smooth(0.056, 0.061, x))
    return along * (1 - _smooth(half * 0.2, half * 1.7, np.abs(y - center))) * (p[:, 2] > -0.02)


def _hair_amount(p: np.ndarray) -> np.ndarray:
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    hairline = np.interp(
        -z,
        [-0.05, 0.0, 0.035, 0.06, 0.09, 0.14, 0.20],
        [0.064, 0.064, 0.050, 0.030, 0.020, -0.040, -0.060],
    )
    hairline = hairline + 0.004 * np.cos(np.clip(x / 0.05, -1, 1) * np.pi)  # temples recede
    return _smooth(-0.003, 0.003, y - hairline)


def skin_colors(p: np.ndarray, below_mouth: np.ndarray) -> np.ndarray:
    colors = np.tile(SKIN, (len(p), 1))
    cheek = np.exp(-(((np.abs(p[:, 0]) - 0.042) / 0.016) ** 2 + ((p[:, 1] + 0.035) / 0.016) ** 2))
    colors = _mix(colors, np.array([0.82, 0.52, 0.46]), 0.35 * cheek * (p[:, 2] > -0.03))
    colors = _mix(colors, LIPS, lip_amount(p, below_mouth))
    colors = _mix(colors, BROWS, _brow_amount(p))
    return _mix(colors, HAIR, _hair_amount(p))
