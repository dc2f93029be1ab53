"""Action Units for training and evaluation, from the default engine's FACS tables.

One AU vocabulary for the whole neural pipeline: the AUs of the default engine's emotion
prototypes (engines/default/emotion.py, Table 1) that stay readable from a talking face's
ARKit weights. Left out, and why:
- AU25 (lips part), AU26 (jaw drop), AU10 (upper lip raiser), AU16 (lower lip depressor):
  they move only the lip-parting channels (jawOpen, mouthUpperUp*, mouthLowerDown*), which
  speech drives all the time; the content path owns them;
- AU43 (eyes closing), AU64 (eyes down): only eyeBlink*/eyeLook*, which blinks and gaze drive.

`aus_from_values` reads AU activations back from ARKit weights (a video fit, or any engine's
output) by non-negative least squares against the default engine's AU -> ARKit table (Table 2)
over the channels those AUs move, excluding the lip-parting and eye channels above, after
undoing the emotion layer's soft knee (so the default engine's own layer reads back exactly).
For the
synthetic corpus the AUs are known exactly: the prototype activations times the default
engine's shaped intensity, the same numbers its emotion layer is built from.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.optimize import nnls

from ..channels import ALL_CHANNELS, expand_pairs, index_of
from ..emotion import EMOTIONS
from ..engines.default.emotion import (
    AU_TO_ARKIT,
    KNEE,
    LIP_PARTING,
    PROTOTYPES,
    shape_intensity,
)

EXCLUDED_AUS = frozenset({"AU10", "AU16", "AU25", "AU26", "AU43", "AU64"})
EYE_PREFIXES = ("eyeBlink", "eyeLook")


def _au_key(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits), name


AU_NAMES: tuple[str, ...] = tuple(
    sorted({au for p in PROTOTYPES.values() for au in p} - EXCLUDED_AUS, key=_au_key)
)


@lru_cache(maxsize=8)
def au_basis(au_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """([channels used, AUs] ARKit weight of each AU, column indices of those channels)."""
    full = np.zeros((len(ALL_CHANNELS), len(au_names)))
    for j, au in enumerate(au_names):
        for channel, weight in expand_pairs(AU_TO_ARKIT[au]).items():
            full[index_of(channel), j] = weight
    speech = {index_of(n) for n in LIP_PARTING}
    used = [
        i
        for i, name in enumerate(ALL_CHANNELS)
        if full[i].any() and i not in speech and not name.startswith(EYE_PREFIXES)
    ]
    return full[used], np.array(used)


def unknee(values: np.ndarray) -> np.ndarray:
    """Undo the emotion layer's soft knee above KNEE (weights near 1 mean a lot of AU)."""
    values = np.clip(values, 0.0, 0.999)
    above = np.maximum(values - KNEE, 0.0) / (1 - KNEE)
    return np.minimum(values, KNEE) + (1 - KNEE) * np.arctanh(above)


def aus_from_values(values: np.ndarray, au_names: tuple[str, ...] = AU_NAMES) -> np.ndarray:
    """AU activations [frames, AUs] that best explain ARKit weights [frames, ALL_CHANNELS]."""
    basis, used = au_basis(tuple(au_names))
    observed = unknee(np.asarray(values, dtype=np.float64)[:, used])
    return np.stack([nnls(basis, row)[0] for row in observed]).astype(np.float32)


def aus_from_curves(curves: np.ndarray, au_names: tuple[str, ...] = AU_NAMES) -> np.ndarray:
    """Exact AU activations [frames, AUs] of the default engine's emotion layer for emotion
    curves [frames, 8]: shaped intensity times each category's prototype."""
    table = emotion_prototypes(au_names)
    prototypes = np.stack([table[e] for e in EMOTIONS])
    return (shape_intensity(np.asarray(curves, np.float64)) @ prototypes).astype(np.float32)


@lru_cache(maxsize=8)
def _prototypes(au_names: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {
        e: np.array([PROTOTYPES[e].get(au, 0.0) for au in au_names], np.float64) for e in EMOTIONS
    }


def emotion_prototypes(au_names: tuple[str, ...] = AU_NAMES) -> dict[str, np.ndarray]:
    """AU vector of each emotion at intensity 1 (neutral: all zero)."""
    return _prototypes(tuple(au_names))
