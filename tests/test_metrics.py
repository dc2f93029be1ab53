"""The shared lip-sync measures."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from emospeaker.audio import Audio
from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.metrics import (
    bilabial_closure_share,
    lips_closed,
    loudness_envelope,
    mouth_opening,
    opening_from_phones,
    pearson_with_lag,
)
from emospeaker.speech.phones import PhoneSegment
from emospeaker.track import FaceTrack


def _values(**channels: list[float]) -> np.ndarray:
    frames = len(next(iter(channels.values())))
    out = np.zeros((frames, len(ALL_CHANNELS)), np.float32)
    for name, series in channels.items():
        out[:, index_of(name)] = series
    return out


def test_mouth_opening_follows_its_definition():
    values = _values(
        jawOpen=[0.0, 0.5, 0.5, 0.5, 0.1],
        mouthClose=[0.0, 0.0, 0.5, 0.2, 0.0],
        mouthUpperUpLeft=[0.0, 0.0, 0.0, 0.4, 0.0],
        mouthUpperUpRight=[0.0, 0.0, 0.0, 0.4, 0.0],
        mouthRollLower=[0.0, 0.0, 0.0, 0.0, 0.8],
    )
    opening = mouth_opening(values)
    assert opening == pytest.approx([0.0, 0.5, 0.0, 0.3 + 0.25 * 0.4, 0.0])
    assert list(lips_closed(values)) == [True, False, True, False, True]
    track = FaceTrack(Fraction(30), {"lips": values * 0.5, "emotion": values * 0.5})
    assert mouth_opening(track) == pytest.approx(opening)  # uses the combined values


def test_opening_from_phones_is_zero_on_closures_and_open_on_vowels():
    phones = [
        PhoneSegment("SIL", 0.0, 0.3),
        PhoneSegment("B", 0.3, 0.4),
        PhoneSegment("AA", 0.4, 0.7),
        PhoneSegment("M", 0.7, 0.8),
        PhoneSegment("SIL", 0.8, 1.2),
    ]
    raw = opening_from_phones(phones, np.array([0.1, 0.35, 0.55, 0.75, 1.1]), smoothing=0)
    assert raw == pytest.approx([0.0, 0.0, 1.0, 0.0, 0.0])
    smooth = opening_from_phones(phones, np.linspace(0, 1.2, 121))
    assert smooth.max() < 1.0 and np.all(np.abs(np.diff(smooth)) < 0.2)


def test_pearson_with_lag_finds_a_constant_offset():
    rng = np.random.default_rng(0)
    a = np.convolve(rng.standard_normal(300), np.ones(5), "same")
    b = np.roll(a, 2)  # b runs two frames late
    r0, _ = pearson_with_lag(a, b, 0)
    r, lag = pearson_with_lag(a, b, 3)
    assert lag == 2 and r > 0.99 > r0
    a_gaps = a.copy()
    a_gaps[::7] = np.nan  # untracked frames are left out
    assert pearson_with_lag(a_gaps, b, 3)[1] == 2
    assert np.isnan(pearson_with_lag(np.ones(10), b[:10], 1)[0])


def test_bilabial_closure_share_counts_within_one_frame():
    phones = [
        PhoneSegment("AA", 0.0, 0.5),
        PhoneSegment("P", 0.5, 0.52),
        PhoneSegment("M", 1.0, 1.1),
    ]
    closed = np.zeros(40, bool)  # 30 fps
    closed[14] = True  # one frame before P (frame 15 is at 0.5 s)
    assert bilabial_closure_share(closed, phones, 30) == (0.5, 2)
    closed[34] = True  # one frame after M (which spans frames 30-33)
    assert bilabial_closure_share(closed, phones, 30) == (1.0, 2)
    assert bilabial_closure_share(closed, phones, 30, tolerance=0)[0] == 0.0


def test_loudness_envelope_follows_the_signal():
    samples = np.zeros(16000, np.float32)
    samples[8000:12000] = 0.5 * np.sin(np.arange(4000) * 0.3)
    env = loudness_envelope(Audio(samples), np.array([0.1, 0.6, 0.9]))
    assert env[0] == 0 and env[1] == pytest.approx(0.5 / np.sqrt(2), rel=0.05) and env[2] == 0
