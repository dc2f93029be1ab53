"""The head layer: head motion and prosodic brow raises driven by pitch and loudness.

Passes, on the 100 Hz analysis grid, then sampled at the frame times:

1. `pitch_contour`  F0 in semitones around the speaker's median, bridged over unvoiced
                    stretches, back to 0 in pauses, smoothed.
2. `accents`        prominent syllables: peaks of loudness above its slow trend, boosted by
                    pitch rises, at least 0.3 s apart.
3. `head_layer`     - a nod (down and back) on each accent, larger for stronger ones;
                    - pitch sets a slow posture: higher voice, head slightly up, and a
                      tilt (roll) that follows the phrase melody;
                    - a slow seeded drift in yaw and roll while speaking that settles in
                      pauses; small translations go with the rotations;
                    - a brow raise (browInnerUp, browOuterUp*) on accents with a pitch rise,
                      and brows that follow the phrase melody: up with a high voice, drawn
                      down (browDown*) with a low one;
                    - on every accent (emphasis) the eyes narrow (eyeSquint*) with a little
                      cheek raise (cheekSquint*), and with a pitch rise they widen a little
                      (eyeWide*) as the brows go up.
                      Prosodic brows and squints live in this layer, not in `emotion`: they
                      belong to how the line is spoken, whatever the emotion (smiles bring
                      their own cheek and eye squint there, AU6).
                    Amplitude and tempo are shaped by emotion (AMPLITUDE, TEMPO): sad moves
                    less and slower, angry and surprised more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...channels import ALL_CHANNELS, index_of
from ...speech.prosody import HOP_SECONDS, Prosody, smooth
from .emotion import emotion_factor

AMPLITUDE = {"sad": 0.55, "angry": 1.45, "surprised": 1.35, "happy": 1.2, "fear": 1.1,
             "disgusted": 0.9, "contempt": 0.8}  # fmt: skip
TEMPO = {"sad": 0.6, "angry": 1.2, "surprised": 1.2, "happy": 1.1, "fear": 1.3}
NOD_RADIANS = 0.06
MIN_ACCENT_GAP = 0.3
# The living upper face in neutral speech, fitted by `scripts/calibrate.py upper` so that each
# channel's spread during speech lies in the range ARKit tracks captured from real talking
# heads show (the lower quartile of the source groups: capture noise only adds spread).
BROW_RAISE = 0.35  # browInnerUp on a strong accent with a pitch rise
BROW_PITCH = 1.4  # browInnerUp per octave of the slow melody above the speaker's median
BROW_OUTER = 0.22  # browOuterUp* as a share of browInnerUp
BROW_DOWN = 2.0  # browDown* per octave below it
EYE_SQUINT = 0.1  # eyeSquint* on a strong accent
CHEEK_SQUINT = 0.04  # cheekSquint* on a strong accent
EYE_WIDE = 0.6  # eyeWide* with a brow raise of 1


@dataclass(frozen=True)
class UpperFace:
    """Amplitudes of the upper face's prosodic motion (defaults: the fitted constants)."""

    brow_raise: float = BROW_RAISE
    brow_pitch: float = BROW_PITCH
    brow_outer: float = BROW_OUTER
    brow_down: float = BROW_DOWN
    eye_squint: float = EYE_SQUINT
    cheek_squint: float = CHEEK_SQUINT
    eye_wide: float = EYE_WIDE


def pitch_contour(prosody: Prosody) -> np.ndarray:
    """Semitones around the median F0 (0 where nothing is voiced), smoothed."""
    f0 = prosody.f0
    voiced = np.isfinite(f0)
    if voiced.sum() < 3:
        return np.zeros_like(f0)
    semitones = 12 * np.log2(f0[voiced] / np.median(f0[voiced]))
    bridged = np.interp(prosody.times, prosody.times[voiced], semitones)
    return smooth(np.clip(bridged, -12, 12) * prosody.speaking, 0.05)


def accents(prosody: Prosody, pitch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, strengths 0..1) of prominent syllables."""
    loud = smooth(prosody.loudness, 0.04)
    prominence = np.clip(loud - smooth(loud, 0.4), 0, None)
    rise = np.clip(pitch - smooth(pitch, 0.4), 0, None) / 4.0
    score = prominence * (1.0 + rise)
    peaks = np.flatnonzero((score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:])) + 1
    peaks = peaks[score[peaks] > 0.08]
    gap = int(MIN_ACCENT_GAP / HOP_SECONDS)
    blocked = np.zeros(len(score), bool)
    chosen: list[int] = []
    for p in peaks[np.argsort(-score[peaks], kind="stable")]:  # strongest first, kept apart
        if not blocked[p]:
            chosen.append(int(p))
            blocked[max(0, p - gap + 1) : p + gap] = True
    chosen.sort()
    strength = np.clip(score[chosen] / 0.3, 0.0, 1.0)
    return prosody.times[chosen], strength


def _add_bump(series: np.ndarray, centre: float, width: float, height: float) -> None:
    """Add a raised cosine of total `width` seconds and peak `height` at `centre` (on the
    100 Hz grid)."""
    lo = max(0, int((centre - width / 2) / HOP_SECONDS))
    hi = min(len(series), int((centre + width / 2) / HOP_SECONDS) + 2)
    if hi <= lo:
        return
    t = (np.arange(lo, hi) + 0.5) * HOP_SECONDS
    u = np.clip((t - centre) / (width / 2), -1.0, 1.0)
    series[lo:hi] += height * 0.5 * (1 + np.cos(np.pi * u))


def _drift(rng: np.random.Generator, count: int, seconds: float) -> np.ndarray:
    """Smooth noise of unit standard deviation with a correlation time of `seconds`."""
    noise = smooth(rng.standard_normal(count + 400), seconds)[200:-200]
    return noise / max(float(np.std(noise)), 1e-9)


def head_layer(
    prosody: Prosody,
    times: np.ndarray,
    curves: np.ndarray,
    seed: int,
    amount: float = 1.0,
    upper: UpperFace | None = None,
) -> np.ndarray:
    """[frames, ALL_CHANNELS] head rotations, translations and the prosodic upper face."""
    upper = upper or UpperFace()
    grid = prosody.times
    emotion_grid = np.stack(
        [np.interp(grid, times, curves[:, k]) for k in range(curves.shape[1])], axis=1
    )
    amplitude = amount * emotion_factor(emotion_grid, AMPLITUDE)
    tempo = float(np.mean(emotion_factor(curves, TEMPO)))
    rng = np.random.default_rng([seed, 1])
    talk = prosody.speaking
    pitch = pitch_contour(prosody)

    rise = np.clip(pitch - smooth(pitch, 0.5), 0, None) / 3.0
    nod = np.zeros(len(grid))
    brows = np.zeros(len(grid))
    emphasis = np.zeros(len(grid))
    width = 0.45 / tempo
    for at, strength in zip(*accents(prosody, pitch), strict=True):
        # down first, then back past rest a little: a beat of the head
        _add_bump(nod, at + 0.05, width, strength)
        _add_bump(nod, at + width, width, -0.3 * strength)
        lift = rise[min(int(at / HOP_SECONDS), len(rise) - 1)]
        _add_bump(brows, at, 0.5 / tempo, min(1.0, strength * lift))
        _add_bump(emphasis, at, 0.6 / tempo, strength)

    slow = smooth(pitch, 0.4 / tempo)
    melody = smooth(pitch, 0.3) / 12.0  # octaves
    raise_ = upper.brow_raise * brows + upper.brow_pitch * np.clip(melody, 0.0, None)
    lower = upper.brow_down * np.clip(-melody, 0.0, None)
    yaw = _drift(rng, len(grid), 0.7 / tempo) * talk
    roll = _drift(rng, len(grid), 1.0 / tempo) * talk
    values = {
        "headPitch": NOD_RADIANS * nod - 0.006 * slow,
        "headYaw": 0.05 * yaw,
        "headRoll": 0.02 * roll + 0.004 * slow,
        "headX": 0.004 * yaw,
        "headY": -0.003 * nod + 0.0004 * slow,
        "headZ": 0.003 * smooth(prosody.loudness * talk, 0.3),
        "browInnerUp": raise_,
        "browOuterUpLeft": upper.brow_outer * raise_,
        "browOuterUpRight": upper.brow_outer * raise_,
        "browDownLeft": lower,
        "browDownRight": lower,
        "eyeSquintLeft": upper.eye_squint * emphasis,
        "eyeSquintRight": upper.eye_squint * emphasis,
        "cheekSquintLeft": upper.cheek_squint * emphasis,
        "cheekSquintRight": upper.cheek_squint * emphasis,
        "eyeWideLeft": upper.eye_wide * raise_,
        "eyeWideRight": upper.eye_wide * raise_,
    }
    layer = np.zeros((len(times), len(ALL_CHANNELS)), np.float32)
    for name, series in values.items():
        layer[:, index_of(name)] = np.interp(times, grid, series * amplitude)
    return layer
