"""The eyes layer: blinks and small gaze shifts, seeded (same seed, same eyes).

- `blink_times`  a renewal process at an emotion-dependent rate (BLINK_RATE, per minute,
                 following the emotion curves over time), intervals at least 0.8 s; a
                 blink that falls near a pause moves to the pause's start, where people
                 blink, and long pauses often get one.
- `saccade_targets`  gaze holds a point for 0.3-3 s, then jumps a few degrees (ARKit eyeLook
                 weights up to ~0.2) in 40 ms, mostly sideways; fear looks around more,
                 anger and sadness hold.
- `eyes_layer`   both into eyeBlink* and eyeLook* channels, evaluated at the frame times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ...channels import ALL_CHANNELS, index_of
from .emotion import emotion_factor

# the median clip's rate in ARKit tracks captured from real talking heads (scripts/calibrate.py
# upper; 22.8 per minute; conversation is usually quoted at 15-26)
BASE_BLINKS_PER_MINUTE = 23.0
BLINK_RATE = {"angry": 0.7, "surprised": 0.5, "fear": 1.5, "sad": 0.8, "happy": 0.95,
              "disgusted": 1.1, "contempt": 0.9}  # fmt: skip
GAZE_RATE = {"fear": 1.8, "angry": 0.6, "sad": 0.7, "surprised": 0.8}
MIN_BLINK_GAP = 0.8
CLOSE, HOLD, OPEN = 0.07, 0.03, 0.14  # s: a blink's phases
SACCADE = 0.04


def blink_times(
    rng: np.random.Generator,
    duration: float,
    rate_per_minute: float | Callable[[float], float],
    pauses: Sequence[tuple[float, float]],
) -> np.ndarray:
    """Start times of blinks in [0, duration) at a rate that may vary with time (candidates at
    the highest rate, each kept with probability rate(t) / highest)."""
    rate = rate_per_minute if callable(rate_per_minute) else lambda _t: rate_per_minute
    top = max(rate(t) for t in np.arange(0.0, max(duration, 0.1), 0.5))
    if top <= 0:
        return np.zeros(0)
    starts = [a for a, b in pauses if b - a > 0.4 and rng.random() < 0.6 * rate(a) / top]
    mean_gap = 60.0 / top
    t = rng.uniform(0.2, mean_gap)
    while t < duration:
        near = [a for a, _ in pauses if abs(a - t) < 0.6]
        if rng.random() < rate(t) / top:
            starts.append(near[0] + 0.05 if near else t)
        t += max(MIN_BLINK_GAP, rng.gamma(3.0, mean_gap / 3.0))
    kept: list[float] = []
    for s in sorted(starts):
        if s < duration and (not kept or s - kept[-1] >= MIN_BLINK_GAP):
            kept.append(s)
    return np.array(kept)


def blink_curve(times: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Lid closure 0..1 at `times` for blinks starting at `starts`."""
    out = np.zeros(len(times))
    for s in starts:
        u = times - s
        closing = np.clip(u / CLOSE, 0, 1)
        opening = np.clip((u - CLOSE - HOLD) / OPEN, 0, 1)
        shape = np.where(u < CLOSE + HOLD, closing**2, 1 - opening * opening * (3 - 2 * opening))
        out = np.maximum(out, np.where((u >= 0) & (u <= CLOSE + HOLD + OPEN), shape, 0.0))
    return out


def saccade_targets(
    rng: np.random.Generator, duration: float, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """(jump times, [n, 2] gaze targets as (sideways, up) ARKit weights, signed)."""
    times, targets = [0.0], [np.zeros(2)]
    t = 0.0
    while t < duration:
        t += float(np.clip(rng.exponential(1.2 / max(rate, 1e-3)), 0.3, 3.0))
        times.append(t)
        # mostly back near the centre, sometimes a glance away
        spread = 0.18 if rng.random() < 0.3 else 0.07
        targets.append(np.clip(rng.normal(0, [spread, spread * 0.5]), -0.25, 0.25))
    return np.array(times), np.stack(targets)


def _gaze(times: np.ndarray, jumps: np.ndarray, targets: np.ndarray) -> np.ndarray:
    index = np.clip(np.searchsorted(jumps, times, side="right") - 1, 0, len(jumps) - 1)
    previous = targets[np.maximum(index - 1, 0)]
    u = np.clip((times - jumps[index]) / SACCADE, 0, 1)[:, None]
    ease = u * u * (3 - 2 * u)
    return previous + ease * (targets[index] - previous)


def eyes_layer(
    times: np.ndarray,
    duration: float,
    curves: np.ndarray,
    pauses: Sequence[tuple[float, float]],
    seed: int,
    blink_scale: float = 1.0,
) -> np.ndarray:
    """[frames, ALL_CHANNELS] blinks and gaze."""
    rng = np.random.default_rng([seed, 2])
    per_frame = BASE_BLINKS_PER_MINUTE * blink_scale * emotion_factor(curves, BLINK_RATE)

    def blink_rate(t: float) -> float:
        return float(np.interp(t, times, per_frame))

    lids = blink_curve(times, blink_times(rng, duration, blink_rate, pauses))
    jumps, targets = saccade_targets(
        rng, duration, float(np.mean(emotion_factor(curves, GAZE_RATE)))
    )
    gaze = _gaze(times, jumps, targets)
    side, up = gaze[:, 0], gaze[:, 1]
    left, right = np.clip(side, 0, None), np.clip(-side, 0, None)  # towards the character's
    values = {
        "eyeBlinkLeft": lids,
        "eyeBlinkRight": lids,
        "eyeLookOutLeft": left,
        "eyeLookInRight": left,
        "eyeLookInLeft": right,
        "eyeLookOutRight": right,
        "eyeLookUpLeft": np.clip(up, 0, None),
        "eyeLookUpRight": np.clip(up, 0, None),
        "eyeLookDownLeft": np.clip(-up, 0, None) + 0.3 * lids,
        "eyeLookDownRight": np.clip(-up, 0, None) + 0.3 * lids,
    }
    layer = np.zeros((len(times), len(ALL_CHANNELS)), np.float32)
    for name, series in values.items():
        layer[:, index_of(name)] = series
    return layer
