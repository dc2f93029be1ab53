"""Acoustic analysis every pass shares: level, normalised loudness, pitch and pauses at 100 Hz.

Pitch is a normalised autocorrelation tracker in plain numpy on 4 kHz audio every 20 ms
(60 s of speech in about 0.05 s; within a semitone of librosa's pYIN on 95-99% of the frames
both call voiced): accurate enough for head motion and brow accents, and it costs nothing
at start-up, whereas librosa's trackers spend seconds to tens of seconds compiling with
numba on their first call in a fresh process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..audio import SAMPLE_RATE

HOP_SECONDS = 0.01
FMIN, FMAX = 60.0, 400.0
MIN_PAUSE_SECONDS = 0.15
_PITCH_RATE = 4000
_PITCH_WINDOW = 160  # 40 ms: two periods of a 50 Hz voice
_PITCH_STEP = 2  # analysis frames per pitch estimate (20 ms: head motion needs no more)
_VOICING = 0.5  # normalised autocorrelation a voiced frame reaches


@dataclass(frozen=True)
class Prosody:
    """Per analysis frame (at `times`, 100 Hz): level in dB full scale, loudness 0..1 between
    the noise floor and the loud peaks, f0 in Hz (NaN when unvoiced); plus the pauses."""

    times: np.ndarray
    level_db: np.ndarray
    loudness: np.ndarray
    f0: np.ndarray
    pauses: list[tuple[float, float]]

    def sample(self, name: str, at: np.ndarray) -> np.ndarray:
        """One series ("level_db", "loudness" or "speaking") interpolated at times `at`."""
        return np.interp(at, self.times, getattr(self, name))

    def speech_seconds(self) -> float:
        """Audio time outside the pauses."""
        total = len(self.times) * HOP_SECONDS
        return total - sum(b - a for a, b in self.pauses)

    def pause_mask(self) -> np.ndarray:
        """Per analysis frame: True inside a pause."""
        mask = np.zeros(len(self.times), bool)
        for a, b in self.pauses:
            mask[int(a / HOP_SECONDS) : int(b / HOP_SECONDS)] = True
        return mask

    @cached_property
    def speaking(self) -> np.ndarray:
        """Per analysis frame: 1 while speaking, 0 in pauses, with 0.1 s soft edges (computed
        once; read-only, as several passes share it)."""
        active = smooth((~self.pause_mask()).astype(np.float64), 0.1)
        active.flags.writeable = False
        return active


def smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    """Gaussian low-pass of a series on the analysis grid (ends padded with end values)."""
    sigma = seconds / HOP_SECONDS
    radius = int(np.ceil(3 * sigma))
    if radius < 1:
        return values.astype(np.float64)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    return np.convolve(padded, kernel / kernel.sum(), mode="valid")


def analyse(samples: np.ndarray) -> Prosody:
    """Level, loudness, pitch and pauses of 16 kHz mono speech."""
    hop = int(HOP_SECONDS * SAMPLE_RATE)
    count = max(1, int(np.ceil(len(samples) / hop)))
    times = (np.arange(count) + 0.5) * HOP_SECONDS
    level = _level_db(samples, hop, count)
    peak = float(np.percentile(level, 95))
    floor = max(float(np.percentile(level, 5)), peak - 60.0)
    loudness = np.clip((level - floor) / max(peak - floor, 1e-6), 0.0, 1.0)
    quiet = level < floor + 0.3 * (peak - floor)
    pauses = _runs(quiet, MIN_PAUSE_SECONDS / HOP_SECONDS)
    f0 = _pitch(samples, count, ~quiet)
    return Prosody(
        times, level, loudness, f0, [(a * HOP_SECONDS, b * HOP_SECONDS) for a, b in pauses]
    )


def _level_db(samples: np.ndarray, hop: int, count: int) -> np.ndarray:
    """RMS level of a 25 ms window centred on each frame."""
    padded = np.pad(samples.astype(np.float64), (hop, hop + count * hop))
    cumulative = np.concatenate([[0.0], np.cumsum(padded**2)])
    centres = hop + (np.arange(count) * hop + hop // 2)
    half = int(0.0125 * SAMPLE_RATE)
    energy = (cumulative[centres + half] - cumulative[centres - half]) / (2 * half)
    return 10 * np.log10(energy + 1e-12)


def _runs(mask: np.ndarray, min_length: float) -> list[tuple[int, int]]:
    """[start, end) index ranges where `mask` holds for at least `min_length` entries."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True) if b - a >= min_length]


def _pitch(samples: np.ndarray, count: int, wanted: np.ndarray) -> np.ndarray:
    """F0 per 10 ms frame by normalised autocorrelation (estimated every _PITCH_STEP frames
    where `wanted`, held in between), NaN where unvoiced or not wanted."""
    factor = SAMPLE_RATE // _PITCH_RATE
    # a box average as anti-alias filter before decimation (speech F0 sits far below 2 kHz)
    low = samples[: len(samples) // factor * factor].reshape(-1, factor).mean(axis=1)
    hop = int(HOP_SECONDS * _PITCH_RATE)
    padded = np.pad(low.astype(np.float32), (_PITCH_WINDOW, count * hop + 2 * _PITCH_WINDOW))
    min_lag, max_lag = int(_PITCH_RATE / FMAX), int(_PITCH_RATE / FMIN)
    index = np.arange(0, count, _PITCH_STEP)
    index = index[wanted[index]]
    estimates = np.full(len(index), np.nan)
    step = 2000
    for first in range(0, len(index), step):
        part = index[first : first + step]
        starts = _PITCH_WINDOW + part * hop + hop // 2 - _PITCH_WINDOW // 2
        frames = padded[starts[:, None] + np.arange(_PITCH_WINDOW + max_lag + 2)]
        estimates[first : first + step] = _frame_pitch(frames, min_lag, max_lag)
    f0 = np.full(count, np.nan)
    for offset in range(_PITCH_STEP):
        f0[np.minimum(index + offset, count - 1)] = estimates
    f0[~wanted] = np.nan
    return f0


def _frame_pitch(frames: np.ndarray, min_lag: int, max_lag: int) -> np.ndarray:
    window = frames[:, :_PITCH_WINDOW]
    size = 1 << int(np.ceil(np.log2(frames.shape[1] + _PITCH_WINDOW)))
    # cross-correlation of the window with the longer frame: r(lag) = sum x[n] y[n + lag]
    spectrum = np.conj(np.fft.rfft(window, size)) * np.fft.rfft(frames, size)
    corr = np.fft.irfft(spectrum, size)[:, : max_lag + 2]
    squares = np.cumsum(np.pad(frames.astype(np.float64) ** 2, ((0, 0), (1, 0))), axis=1)
    lags = np.arange(max_lag + 2)
    shifted = squares[:, lags + _PITCH_WINDOW] - squares[:, lags]
    nccf = corr / np.sqrt(shifted * squares[:, _PITCH_WINDOW : _PITCH_WINDOW + 1] + 1e-12)
    search = nccf[:, min_lag : max_lag + 1]
    best = search.max(axis=1)
    # the first local peak within 90% of the best avoids octave-down errors
    inner = search[:, 1:-1]
    peaks = (inner > search[:, :-2]) & (inner >= search[:, 2:]) & (inner >= 0.9 * best[:, None])
    lag = np.where(
        peaks.any(axis=1), min_lag + 1 + np.argmax(peaks, axis=1), min_lag + search.argmax(axis=1)
    )
    left, mid, right = (nccf[np.arange(len(lag)), lag + d] for d in (-1, 0, 1))
    denominator = left - 2 * mid + right
    offset = np.divide(
        0.5 * (left - right), denominator, out=np.zeros_like(mid), where=np.abs(denominator) > 1e-9
    )
    f0 = _PITCH_RATE / (lag + np.clip(offset, -0.5, 0.5))
    return np.where(best >= _VOICING, f0, np.nan)
