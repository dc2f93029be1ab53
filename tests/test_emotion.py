"""Emotion keys -> dense per-frame curves."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from emospeaker.emotion import (
    EMOTION_INDEX,
    EMOTIONS,
    EmotionKey,
    EmotionTimeline,
    curves_from_array,
)
from emospeaker.errors import InputError

HAPPY, SAD, NEUTRAL = (EMOTION_INDEX[n] for n in ("happy", "sad", "neutral"))


def test_constant_and_blend():
    curves = EmotionTimeline.parse("happy:0.6+surprised:0.3").curves(Fraction(25), 50)
    assert curves.shape == (50, 8) and curves.dtype == np.float32
    assert np.allclose(curves[:, HAPPY], 0.6)
    assert np.allclose(curves[:, EMOTION_INDEX["surprised"]], 0.3)
    assert np.allclose(np.delete(curves, [HAPPY, EMOTION_INDEX["surprised"]], axis=1), 0)


def test_category_without_intensity_means_one():
    assert EmotionTimeline.parse("sad").keys[0].intensities == {"sad": 1.0}


def test_keys_move_between_states_and_hold_outside():
    timeline = EmotionTimeline.parse("1s=neutral:0,3s=happy:1@linear,5s=sad:0.6")
    curves = timeline.curves(Fraction(10), 70)
    t = np.arange(70) / 10
    assert np.all(curves[t < 1] == 0)  # holds the first key's state before it
    assert curves[20, HAPPY] == pytest.approx(0.5)  # smooth ease is symmetric at half way
    assert curves[30, HAPPY] == pytest.approx(1.0)
    assert curves[40, HAPPY] == pytest.approx(0.5) and curves[40, SAD] == pytest.approx(0.3)
    assert np.allclose(curves[t >= 5][:, SAD], 0.6) and np.all(curves[t >= 5][:, HAPPY] == 0)


@pytest.mark.parametrize("mode", ["constant", "linear", "smooth"])
def test_interpolation_modes(mode):
    curves = EmotionTimeline.parse(f"0s=happy:0@{mode},1s=happy:1").curves(Fraction(100), 101)
    happy = curves[:, HAPPY]
    u = np.arange(101) / 100
    expected = {"constant": np.where(u < 1, 0, 1), "linear": u, "smooth": u * u * (3 - 2 * u)}
    assert np.allclose(happy, expected[mode], atol=1e-6)
    assert np.all(np.diff(happy) >= 0)  # monotone toward the next key


def test_smooth_has_no_jumps():
    curves = EmotionTimeline.parse("0s=sad:0,0.5s=sad:1,1s=angry:2").curves(Fraction(200), 300)
    assert np.abs(np.diff(curves, axis=0)).max() < 0.05


def test_frame_keys_use_timeline_frames():
    timeline = EmotionTimeline.parse("100f=happy:0@constant,124f=happy:1")
    curves = timeline.curves(Fraction(24), 48, start_frame=100)
    assert curves[23, HAPPY] == 0 and curves[24, HAPPY] == 1  # frame 124 is 1 s into the audio


def test_intensities_above_one_are_legal_within_the_limit():
    assert (
        EmotionTimeline.parse("fear:2.5").curves(Fraction(30), 3)[0, EMOTION_INDEX["fear"]] == 2.5
    )
    with pytest.raises(InputError, match="0 to 4"):
        EmotionTimeline.parse("fear:7")


@pytest.mark.parametrize(
    "text, message",
    [
        ("glad:1", "neutral, angry, contempt, disgusted, fear, happy, sad, surprised"),
        ("happy:lots", "not a number"),
        ("2s=happy:1@bouncy", "constant, linear, smooth"),
        ("2s happy", "CATEGORY"),
        ("", "empty"),
        ("x=happy:1", "TIME=CATEGORY"),
    ],
)
def test_bad_specifications_name_the_problem(text, message):
    with pytest.raises(InputError, match=message):
        EmotionTimeline.parse(text)


def test_json_keys_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            [
                {"time": 0, "emotion": "neutral", "intensity": 0},
                {"frame": 48, "emotions": {"happy": 0.5, "sad": 0.25}, "interpolation": "linear"},
            ]
        )
    )
    timeline = EmotionTimeline.load(path)
    assert timeline.keys[1] == EmotionKey(48, {"happy": 0.5, "sad": 0.25}, "linear", "frame")
    again = EmotionTimeline.from_json(timeline.to_json())
    assert again == timeline
    curves = timeline.curves(Fraction(24), 60)
    assert curves[59, HAPPY] == 0.5 and curves[59, SAD] == 0.25


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"keys": "nope"}, "list"),
        ([{"time": 1}], "'emotion'"),
        ([{"emotion": "happy"}], "'time'"),
        ([{"time": 1, "frame": 2, "emotion": "sad"}], "exactly"),
        ([{"time": 0, "emotion": "joy"}], "one of"),
    ],
)
def test_bad_json_keys(tmp_path, doc, message):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as err:
        EmotionTimeline.load(path)
    assert "keys.json" in str(err.value)


def test_dense_curves_are_validated():
    assert curves_from_array(np.zeros((5, 8)), 5).shape == (5, 8)
    with pytest.raises(InputError, match=r"\[5, 8\]"):
        curves_from_array(np.zeros((4, 8)), 5)
    with pytest.raises(InputError, match="lie in"):
        curves_from_array(np.full((5, 8), -1.0), 5)


def test_empty_timeline_is_no_emotion():
    assert not EmotionTimeline().curves(Fraction(30), 10).any()
    assert len(EMOTIONS) == 8
