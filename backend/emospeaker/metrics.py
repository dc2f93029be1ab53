"""Lip-sync measures shared by the benchmarks, the tests, neural evaluation and render checks.

Mouth opening of a FaceTrack, in ARKit terms (one definition for the whole project):

    opening = max(0, jawOpen - mouthClose)
              + 0.25 * (mouthUpperUp + mouthLowerDown)          (left/right averaged)
              - 0.25 * (mouthRollLower + mouthRollUpper + mouthPress)   (left/right averaged)
    clipped at 0.

jawOpen drops the jaw and the lower lip with it; mouthClose is ARKit's corrective that brings
the lips together while the jaw is open, so jawOpen - mouthClose is the part of the jaw's drop
that shows as a lip gap. Raising the upper lip and lowering the lower lip part the lips
further; rolling them in or pressing them together closes the gap. The lips count as closed
on a frame whose opening is below CLOSED_BELOW (a gap of about 1 mm on an adult face).

The opening implied by true phones (`opening_from_phones`) uses PHONE_OPENING: the typical
lip aperture of each phone at its steady state relative to an open "aa", smoothed over a few
tens of milliseconds as the articulators cannot jump.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .audio import SAMPLE_RATE, Audio
from .channels import index_of
from .speech.phones import BILABIALS, PhoneSegment
from .track import FaceTrack

CLOSED_BELOW = 0.05

# typical steady-state lip aperture per phone, 0 (lips shut) to 1 (wide open "aa")
PHONE_OPENING: dict[str, float] = {
    "SIL": 0.0,
    "AA": 1.0, "AE": 0.85, "AH": 0.7, "AO": 0.8, "AW": 0.85, "AY": 0.85, "EH": 0.65,
    "ER": 0.4, "EY": 0.55, "IH": 0.45, "IY": 0.35, "OW": 0.55, "OY": 0.65, "UH": 0.4,
    "UW": 0.3,
    "P": 0.0, "B": 0.0, "M": 0.0, "F": 0.08, "V": 0.08, "TH": 0.25, "DH": 0.25,
    "S": 0.15, "Z": 0.15, "SH": 0.25, "ZH": 0.25, "CH": 0.2, "JH": 0.2,
    "T": 0.25, "D": 0.25, "N": 0.25, "L": 0.35, "R": 0.3, "K": 0.35, "G": 0.35, "NG": 0.35,
    "HH": 0.5, "W": 0.15, "Y": 0.3,
}  # fmt: skip

_OPEN = ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight")


def mouth_opening(track: FaceTrack | np.ndarray) -> np.ndarray:
    """Lip opening per frame (see the module docstring) of a track or its combined values
    ([frames, ALL_CHANNELS])."""
    values = track.values if isinstance(track, FaceTrack) else np.asarray(track)

    def col(name: str) -> np.ndarray:
        return values[:, index_of(name)].astype(np.float64)

    jaw_gap = np.maximum(0.0, col("jawOpen") - col("mouthClose"))
    part = 0.5 * sum(col(n) for n in _OPEN)  # mean of each L/R pair, summed
    shut = col("mouthRollLower") + col("mouthRollUpper")
    shut += 0.5 * (col("mouthPressLeft") + col("mouthPressRight"))
    return np.maximum(0.0, jaw_gap + 0.25 * part - 0.25 * shut)


def lips_closed(track: FaceTrack | np.ndarray) -> np.ndarray:
    """Boolean per frame: the lips touch (opening below CLOSED_BELOW)."""
    return mouth_opening(track) < CLOSED_BELOW


def opening_from_phones(
    phones: Sequence[PhoneSegment], times: np.ndarray, smoothing: float = 0.025
) -> np.ndarray:
    """The lip opening the phones imply at `times` (seconds): each phone's PHONE_OPENING,
    smoothed by a Gaussian of `smoothing` seconds (0 for the raw step function)."""
    times = np.asarray(times, dtype=np.float64)
    step = 0.002
    end = max([p.end for p in phones] + [float(times.max(initial=0.0))]) + 4 * smoothing
    grid = np.arange(0.0, end + step, step)
    values = np.zeros_like(grid)
    for seg in phones:
        inside = (grid >= seg.start) & (grid < seg.end)
        values[inside] = PHONE_OPENING.get(seg.phone, 0.3)
    if smoothing > 0:
        radius = int(np.ceil(3 * smoothing / step))
        kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) * step / smoothing) ** 2)
        values = np.convolve(values, kernel / kernel.sum(), mode="same")
    return np.interp(times, grid, values)


def pearson_with_lag(a: np.ndarray, b: np.ndarray, max_lag: int = 0) -> tuple[float, int]:
    """The best Pearson r of a[i] against b[i + lag] for |lag| <= max_lag frames, and that
    lag (positive: b runs late). Frames where either value is NaN are left out; r is NaN when
    fewer than 3 frames remain or either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = min(len(a), len(b))
    best = (np.nan, 0)
    for lag in range(-max_lag, max_lag + 1):
        x = a[max(0, -lag) : n - max(0, lag)]
        y = b[max(0, lag) : n - max(0, -lag)]
        r = _pearson(x, y)
        if np.isfinite(r) and not (np.isfinite(best[0]) and r <= best[0]):
            best = (r, lag)
    return best


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def bilabial_closure_share(
    closed: np.ndarray, phones: Sequence[PhoneSegment], fps: float, tolerance: int = 1
) -> tuple[float, int]:
    """(share, count) of the P/B/M phones during which the lips close on some frame within
    `tolerance` frames of the phone's span. `closed` is lips_closed(track); frame i is at
    time i / fps."""
    targets = [p for p in phones if p.phone in BILABIALS]
    if not targets:
        return float("nan"), 0
    hits = 0
    for seg in targets:
        first = int(np.ceil(seg.start * fps)) - tolerance
        last = int(np.floor(seg.end * fps)) + tolerance
        window = closed[max(0, first) : max(0, last + 1)]
        hits += bool(window.any())
    return hits / len(targets), len(targets)


def loudness_envelope(audio: Audio, times: np.ndarray, window: float = 0.04) -> np.ndarray:
    """RMS of the audio in a `window`-second window centred on each time: the naive
    baseline every lip-sync figure is compared with."""
    samples = audio.samples.astype(np.float64)
    cumulative = np.concatenate([[0.0], np.cumsum(samples**2)])
    centre = np.round(np.asarray(times) * SAMPLE_RATE).astype(int)
    half = int(window * SAMPLE_RATE / 2)
    lo = np.clip(centre - half, 0, len(samples))
    hi = np.clip(centre + half, 0, len(samples))
    energy = (cumulative[hi] - cumulative[lo]) / np.maximum(hi - lo, 1)
    return np.sqrt(energy)
