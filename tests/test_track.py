"""FaceTrack: validation, derived values, rational fps, and exact file round trips."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from emospeaker.channels import ALL_CHANNELS, ARKIT_BLENDSHAPES, HEAD_CHANNELS, index_of, mirror
from emospeaker.errors import InputError
from emospeaker.formats import load_track, save_track
from emospeaker.formats.livelink_csv import HEADER
from emospeaker.track import FaceTrack, frame_count, parse_fps

C = len(ALL_CHANNELS)


def make_track(frames: int = 10, seed: int = 0, fps=Fraction(30)) -> FaceTrack:
    rng = np.random.default_rng(seed)
    layers = {name: np.zeros((frames, C), np.float32) for name in ("lips", "emotion", "head")}
    layers["lips"][:, index_of("jawOpen")] = rng.uniform(0, 0.8, frames)
    layers["emotion"][:, index_of("mouthSmileLeft")] = rng.uniform(0, 0.5, frames)
    layers["emotion"][:, index_of("jawOpen")] = 0.4  # sums above 1 with lips: clamped
    layers["head"][:, index_of("headPitch")] = rng.normal(0, 0.1, frames)
    layers["head"][:, index_of("headX")] = rng.normal(0, 0.01, frames)
    emotion = rng.uniform(0, 1, (frames, 8)).astype(np.float32)
    return FaceTrack(
        fps,
        layers,
        start_frame=7,
        emotion=emotion,
        provenance={"engine": "test", "seed": seed, "options": {"gain": 1.5}},
    )


def test_channels_are_apple_arkit_plus_head_pose():
    assert len(ARKIT_BLENDSHAPES) == 52 and ARKIT_BLENDSHAPES[0] == "eyeBlinkLeft"
    assert ALL_CHANNELS[-6:] == ("headPitch", "headYaw", "headRoll", "headX", "headY", "headZ")
    assert mirror("mouthSmileLeft") == "mouthSmileRight" and mirror("jawLeft") == "jawRight"
    assert mirror("jawOpen") == "jawOpen"
    with pytest.raises(KeyError, match="jawOpen"):
        index_of("JawOpen")


def test_values_are_the_clamped_sum_of_layers_and_head_pose_is_not_clamped():
    track = make_track()
    total = sum(track.layers.values())
    jaw = index_of("jawOpen")
    assert np.allclose(track.values[:, jaw], np.clip(total[:, jaw], 0, 1))
    assert track.values[:, jaw].max() <= 1.0
    pitch = index_of("headPitch")
    assert np.array_equal(track.values[:, pitch], track.layers["head"][:, pitch])
    assert track.values.dtype == np.float32


def test_muting_a_layer_removes_exactly_its_contribution():
    track = make_track()
    muted = track.scaled({"emotion": 0.0})
    smile = index_of("mouthSmileLeft")
    assert np.all(muted.values[:, smile] == 0) and np.any(track.values[:, smile] > 0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("24", Fraction(24)),
        ("30000/1001", Fraction(30000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("12.5", Fraction(25, 2)),
        ((24000, 1001), Fraction(24000, 1001)),
        (60, Fraction(60)),
    ],
)
def test_parse_fps(text, expected):
    assert parse_fps(text) == expected


@pytest.mark.parametrize("bad", ["0", "-24", "1/0", "abc", "100000", "nan", "1/4294967295"])
def test_parse_fps_rejects_nonsense_naming_the_field(bad):
    with pytest.raises(InputError) as err:
        parse_fps(bad)
    assert err.value.field == "fps"


def test_frame_count_is_exact_for_fractional_rates():
    assert frame_count(Fraction(3), Fraction(24000, 1001)) == 72  # 71.928 -> 72
    assert frame_count(Fraction(2), Fraction(25)) == 50
    assert frame_count(Fraction(1, 100), Fraction(30)) == 1


def test_invalid_tracks_are_rejected():
    good = np.zeros((4, C), np.float32)
    with pytest.raises(InputError, match="layers"):
        FaceTrack(Fraction(30), {"a": good, "b": np.zeros((5, C))})
    with pytest.raises(InputError, match="NaN"):
        FaceTrack(Fraction(30), {"a": np.full((4, C), np.nan)})
    with pytest.raises(InputError, match="emotion"):
        FaceTrack(Fraction(30), {"a": good}, emotion=np.zeros((3, 8)))


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_exact_round_trip(tmp_path, suffix):
    track = make_track(frames=25, fps=Fraction(24000, 1001))
    path = save_track(track, tmp_path / f"t{suffix}")
    assert load_track(path) == track


@settings(max_examples=25, deadline=None)
@given(
    values=arrays(np.float32, (6, C), elements=st.floats(-3, 3, width=32)),
    num=st.integers(1, 240000),
    den=st.integers(1, 1001),
)
def test_exact_round_trip_of_arbitrary_float32(tmp_path_factory, values, num, den):
    assume(Fraction(num, den) <= 1000)
    track = FaceTrack(Fraction(num, den), {"lips": values, "eyes": -values})
    folder = tmp_path_factory.mktemp("rt")
    for suffix in (".json", ".npz"):
        assert load_track(save_track(track, folder / f"t{suffix}")) == track


def test_livelink_csv_layout_and_round_trip(tmp_path):
    track = make_track(frames=70, fps=Fraction(30))
    path = save_track(track, tmp_path / "take.csv")
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == HEADER
    assert HEADER[:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert "JawOpen" in HEADER and "HeadYaw" in HEADER and len(HEADER) == 2 + 61
    first = lines[1].split(",")
    assert first[0] == "00:00:00:07.000" and first[1] == "61"  # start_frame 7 at 30 fps
    assert lines[-1].startswith("00:00:02:16.000")  # frame 7 + 69 = 76 = 2 s + 16

    back = load_track(path)
    assert back.fps == 30 and back.start_frame == 7 and back.frames == 70
    rotations = [index_of(c) for c in ("headPitch", "headYaw", "headRoll")]
    exact = list(range(52)) + rotations
    assert np.array_equal(back.values[:, exact], track.values[:, exact])
    translation = [index_of(c) for c in HEAD_CHANNELS[3:]]
    assert np.all(back.values[:, translation] == 0)  # no column for it in this layout


def test_livelink_csv_recording_with_dropped_frame_is_resampled(tmp_path):
    header = ",".join(HEADER)
    zeros = ",".join(["0"] * 61)
    rows = [f"10:00:00:{ff:02d}.000,61,{zeros}" for ff in (0, 1, 3)]
    rows = [r.replace(",61,0,", ",61,0.5,", 1) if i == 2 else r for i, r in enumerate(rows)]
    path = tmp_path / "take.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    track = load_track(path)
    assert track.frames == 4  # frame 2 was dropped and is interpolated
    blink = track.channel("eyeBlinkLeft")
    assert blink[2] == pytest.approx(0.25) and blink[3] == pytest.approx(0.5)


def test_unknown_suffix_and_unreadable_files_name_the_problem(tmp_path):
    with pytest.raises(InputError, match=r"\.txt"):
        save_track(make_track(), tmp_path / "t.txt")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        load_track(tmp_path / "bad.json")
    with pytest.raises(InputError, match="no such"):
        load_track(tmp_path / "missing.npz")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    from emospeaker import formats

    def explode(track, path):
        path.write_text("half")
        raise OSError("disk full")

    monkeypatch.setitem(formats.FORMATS, ".json", (explode, formats.FORMATS[".json"][1]))
    with pytest.raises(OSError):
        save_track(make_track(), tmp_path / "t.json")
    assert list(tmp_path.iterdir()) == []
