"""The lips layer: phones -> ARKit mouth and jaw curves, as a chain of small passes.

1. `viseme_segments`  phones -> (class, start, end), diphthongs split in two; the last
                      0.35 s of a pause before speech becomes an in-breath: the mouth
                      opens before the sound starts, as it does in real recordings.
2. `coarticulate`     dominance blending (Cohen & Massaro): each segment pulls the mouth
                      towards its pose with a strength that is full inside the segment and
                      decays exponentially before it (anticipation) and after it (carry-over);
                      a frame shows the dominance-weighted mean of the poses around it.
3. `follow_loudness`  the blended pose, with the jaw (and lip lowering) opening with the
                      loudness of the voice; the in-breath, which is silent, keeps its own.
4. `calibrate`       the fitted pass: per-channel gains, the jaw's drop shared with the
                      lips (mouthLowerDown, mouthUpperUp, mouthClose) as captured real faces
                      share it, the rounding's and the seal's gains, and a temporal
                      smoothing (off: held out it did not help) (LipsTuning; fitted on
                      real speech by scripts/calibrate.py).
5. `close_lips`       every P/B/M reaches full closure and every F/V puts the lower lip to the
                      upper teeth on at least one frame, whatever the blending did; returns
                      the closure mask other layers must respect.
6. `lips_layer`       the chain, into a [frames, ALL_CHANNELS] layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ...channels import ALL_CHANNELS, indices
from ...speech.phones import SILENCE, PhoneSegment
from .visemes import (
    CLASS_DOMINANCE,
    CLASS_INDEX,
    CLASS_POSES,
    DIPHTHONGS,
    LIP_CHANNELS,
    viseme_class,
)

# Time constants and loudness response chosen with scripts/bench_lipsync.py: on real clips
# they hardly matter (the tracked aperture is smoother than any phone sequence); on synthetic
# speech with exact phones these values follow the true openings and closures best.
ANTICIPATION = 0.03  # s: decay of a segment's pull before it starts
CARRY_OVER = 0.035  # s: decay after it ends
FULL_REST = 0.15  # s: a pause this long relaxes the mouth completely
QUIET_JAW, LOUD_JAW = 0.2, 1.4  # jaw scale in the quietest and the loudest speech
BREATH = 0.35  # s: the mouth opens this long before speech that follows a pause
MIN_BREATH_PAUSE = 0.2  # s: shorter pauses get no in-breath

# The calibration pass, fitted to ARKit tracks captured from real talking heads (realtalk and
# lipsync_dev, each source group held out in turn) by `scripts/calibrate.py fit`: the gains
# make each channel's spread during speech match the captured faces' (jawOpen 0.08, lower lip
# 0.22, pucker 0.03: the 1.1.0 jaw moved 2.3 times too much, rounding 6 times); the lower lip
# takes a share of the jaw's drop rather than a larger own pose, so the opening keeps its
# timing; mouthClose takes the share real faces show (least-squares slope on jawOpen).
# SMOOTHING and the engine's MOUTH_LEAD were searched too (0-0.035 s, 0.02-0.04 s): the values
# chosen on the training groups lost held out (r0 0.470 against 0.493), so 1.1.0's stay.
JAW_GAIN = 0.44
LOWER_DOWN_GAIN, LOWER_DOWN_SHARE = 1.0, 1.54  # mouthLowerDown = gain * own + share * jawOpen
UPPER_UP_GAIN, UPPER_UP_SHARE = 0.92, 0.0
CLOSE_SHARE = 0.14  # mouthClose = share * jaw while speaking (lips less parted than the jaw)
STRETCH_GAIN = 1.65
ROUND_GAIN = 0.16  # mouthPucker and mouthFunnel
SEAL_GAIN = 0.16  # mouthRoll* and mouthPress* (the forced closures keep their own values)
SMOOTHING = 0.0  # s: Gaussian sigma over the pose (the articulators' inertia)
_COL = {name: i for i, name in enumerate(LIP_CHANNELS)}
_LOUD = [_COL[n] for n in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")]
_BREATH = CLASS_INDEX["breath"]
_SEAL = [_COL[n] for n in ("mouthRollLower", "mouthPressLeft", "mouthPressRight")]


@dataclass(frozen=True)
class LipsTuning:
    """The calibration pass's constants (defaults: the fitted ones above); the fit script
    varies them."""

    jaw_gain: float = JAW_GAIN
    lower_down: tuple[float, float] = (LOWER_DOWN_GAIN, LOWER_DOWN_SHARE)
    upper_up: tuple[float, float] = (UPPER_UP_GAIN, UPPER_UP_SHARE)
    close_share: float = CLOSE_SHARE
    stretch_gain: float = STRETCH_GAIN
    round_gain: float = ROUND_GAIN
    seal_gain: float = SEAL_GAIN
    smoothing: float = SMOOTHING
    anticipation: float = ANTICIPATION
    carry_over: float = CARRY_OVER
    loud_jaw: tuple[float, float] = (QUIET_JAW, LOUD_JAW)


@dataclass(frozen=True)
class Segments:
    """Viseme segments as plain arrays."""

    kind: np.ndarray  # [n] class index into visemes.CLASS_NAMES
    start: np.ndarray  # [n] seconds
    end: np.ndarray  # [n] seconds

    def of_class(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.kind == CLASS_INDEX[name])


def viseme_segments(phones: Sequence[PhoneSegment]) -> Segments:
    """Pass 1: classes and times, with each diphthong split into its two halves."""
    kind, start, end = [], [], []
    for i, seg in enumerate(phones):
        if _before_speech(phones, i):
            cut = max(seg.start, seg.end - BREATH)
            kind += [CLASS_INDEX["rest"], CLASS_INDEX["breath"]]
            start += [seg.start, cut]
            end += [cut, seg.end]
            continue
        parts = DIPHTHONGS.get(seg.phone, (seg.phone,))
        step = (seg.end - seg.start) / len(parts)
        for k, part in enumerate(parts):
            kind.append(CLASS_INDEX[viseme_class(part)])
            start.append(seg.start + k * step)
            end.append(seg.start + (k + 1) * step)
    return Segments(np.array(kind, int), np.array(start, float), np.array(end, float))


def _before_speech(phones: Sequence[PhoneSegment], i: int) -> bool:
    seg = phones[i]
    return (
        seg.phone == SILENCE
        and seg.duration >= MIN_BREATH_PAUSE
        and i + 1 < len(phones)
        and phones[i + 1].phone != SILENCE
    )


def coarticulate(
    segments: Segments,
    times: np.ndarray,
    anticipation: float = ANTICIPATION,
    carry_over: float = CARRY_OVER,
) -> np.ndarray:
    """Pass 2: [frames, classes] share of each viseme class in the mouth's pose (rows sum
    to 1); the pose itself is `shares @ CLASS_POSES`."""
    shares = np.zeros((len(times), len(CLASS_DOMINANCE)))
    rest = CLASS_INDEX["rest"]
    for kind, start, end in zip(segments.kind, segments.start, segments.end, strict=True):
        strength = CLASS_DOMINANCE[kind]
        if kind == rest:  # short pauses between words hardly close the mouth
            strength *= min(1.0, (end - start) / FULL_REST) ** 2
        lo, hi = np.searchsorted(times, [start - 6 * anticipation, end + 6 * carry_over])
        if hi <= lo:
            continue
        t = times[lo:hi]
        before = np.clip(start - t, 0.0, None) / anticipation
        after = np.clip(t - end, 0.0, None) / carry_over
        shares[lo:hi, kind] += strength * np.exp(-(before + after))
    return shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-9)


def loudness_shares(
    shares: np.ndarray, loudness: np.ndarray, loud_jaw: tuple[float, float] = (QUIET_JAW, LOUD_JAW)
) -> np.ndarray:
    """The class shares, each weighted by how far the loudness (0..1) opens the jaw (scale
    `loud_jaw` = (quietest, loudest)), except the in-breath's (it makes no sound)."""
    quiet, loud = loud_jaw
    voiced = quiet + (loud - quiet) * np.sqrt(np.clip(loudness, 0.0, 1.0))
    scaled = shares * voiced[:, None]
    scaled[:, _BREATH] = shares[:, _BREATH]
    return scaled


def follow_loudness(
    shares: np.ndarray,
    loudness: np.ndarray,
    gain: float = 1.0,
    loud_jaw: tuple[float, float] = (QUIET_JAW, LOUD_JAW),
) -> np.ndarray:
    """Pass 3: the [frames, LIP_CHANNELS] pose of the class shares, its jaw drop and lip
    lowering following the loudness of the voice (see loudness_shares)."""
    pose = shares @ CLASS_POSES
    pose[:, _LOUD] = gain * (loudness_shares(shares, loudness, loud_jaw) @ CLASS_POSES[:, _LOUD])
    return pose


def calibrate(pose: np.ndarray, times: np.ndarray, tuning: LipsTuning) -> np.ndarray:
    """Pass 4: the pose in the proportions of real faces (see LipsTuning and the constants
    above): channel gains, the jaw's drop shared with the lips, then the smoothing."""
    out = pose.copy()
    jaw = tuning.jaw_gain * pose[:, _COL["jawOpen"]]
    out[:, _COL["jawOpen"]] = jaw
    for side in ("Left", "Right"):
        for name, (gain, share) in (("mouthLowerDown", tuning.lower_down),
                                    ("mouthUpperUp", tuning.upper_up)):  # fmt: skip
            col = _COL[name + side]
            out[:, col] = gain * pose[:, col] + share * jaw
        out[:, _COL["mouthStretch" + side]] *= tuning.stretch_gain
    out[:, _COL["mouthClose"]] += tuning.close_share * jaw
    out[:, [_COL["mouthPucker"], _COL["mouthFunnel"]]] *= tuning.round_gain
    out[:, _SEAL] *= tuning.seal_gain
    return _gaussian(out, times, tuning.smoothing)


def _gaussian(values: np.ndarray, times: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass along frames of `sigma` seconds (ends padded with end values)."""
    if sigma <= 0 or len(times) < 2:
        return values
    return gaussian_filter1d(values, sigma / float(times[1] - times[0]), axis=0, mode="nearest")


def close_lips(
    pose: np.ndarray, segments: Segments, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pass 5: force P/B/M closures and F/V lip-to-teeth contact on the frames inside each
    segment (the nearest frame when a segment falls between frames). Returns the pose and
    the closure mask per frame (1 on those frames, 0.5 beside them)."""
    out = pose.copy()
    closed = np.zeros(len(times), bool)
    for name, shape in (("PBM", _bilabial), ("FV", _labiodental)):
        for i in segments.of_class(name):
            frames = _frames_within(times, segments.start[i], segments.end[i])
            shape(out, frames)
            closed[frames] = True
    beside = np.zeros_like(closed)
    beside[1:] |= closed[:-1]
    beside[:-1] |= closed[1:]
    return out, np.where(closed, 1.0, np.where(beside, 0.5, 0.0))


def _frames_within(times: np.ndarray, start: float, end: float) -> np.ndarray:
    lo, hi = np.searchsorted(times, [start, end])
    if hi > lo:
        return np.arange(lo, hi)
    nearest = int(np.argmin(np.abs(times - 0.5 * (start + end))))
    return np.array([nearest])


def _bilabial(pose: np.ndarray, frames: np.ndarray) -> None:
    col = _COL
    pose[frames, col["jawOpen"]] = np.minimum(pose[frames, col["jawOpen"]], 0.12)
    pose[frames, col["mouthClose"]] = pose[frames, col["jawOpen"]]
    for name in ("mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft",
                 "mouthLowerDownRight", "tongueOut"):  # fmt: skip
        pose[frames, col[name]] = 0.0
    pose[frames, col["mouthFunnel"]] = np.minimum(pose[frames, col["mouthFunnel"]], 0.1)
    for name in ("mouthPressLeft", "mouthPressRight"):
        pose[frames, col[name]] = np.maximum(pose[frames, col[name]], 0.2)


def _labiodental(pose: np.ndarray, frames: np.ndarray) -> None:
    col = _COL
    pose[frames, col["jawOpen"]] = np.minimum(pose[frames, col["jawOpen"]], 0.1)
    pose[frames, col["mouthClose"]] = np.maximum(pose[frames, col["jawOpen"]] - 0.04, 0.0)
    pose[frames, col["mouthRollLower"]] = np.maximum(pose[frames, col["mouthRollLower"]], 0.5)
    for name in ("mouthLowerDownLeft", "mouthLowerDownRight", "tongueOut"):
        pose[frames, col[name]] = 0.0
    for name in ("mouthUpperUpLeft", "mouthUpperUpRight"):
        pose[frames, col[name]] = np.maximum(pose[frames, col[name]], 0.1)
    pose[frames, col["mouthFunnel"]] = np.minimum(pose[frames, col["mouthFunnel"]], 0.1)


def lips_layer(
    phones: Sequence[PhoneSegment],
    times: np.ndarray,
    loudness: np.ndarray,
    gain: float = 1.0,
    lead: float = 0.0,
    tuning: LipsTuning | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The whole chain: ([frames, ALL_CHANNELS] lips layer, closure mask [frames]).

    `lead` (seconds) moves the mouth earlier than the sound, as real mouths move."""
    tuning = tuning or LipsTuning()
    segments = viseme_segments(phones)
    at = times + lead
    shares = coarticulate(segments, at, tuning.anticipation, tuning.carry_over)
    pose = calibrate(follow_loudness(shares, loudness, gain, tuning.loud_jaw), at, tuning)
    pose, mask = close_lips(pose, segments, at)
    layer = np.zeros((len(times), len(ALL_CHANNELS)), np.float32)
    layer[:, indices(*LIP_CHANNELS)] = np.clip(pose, 0.0, 1.0)
    return layer, mask
