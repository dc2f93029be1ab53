"""The add-on's Blender-free parts against the backend: names, name matching, file writers,
and the build script's platform bookkeeping."""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from emospeaker import channels, emotion
from emospeaker.formats import livelink_csv, load_track, save_track
from emospeaker.track import FaceTrack

sys.path.insert(0, str(ROOT))  # the add-on's folder is a package named `addon`

from addon import arkit  # noqa: E402
from addon import track as addon_track  # noqa: E402


def build_script():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("build_addon", ROOT / "scripts/build_addon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_are_the_backends() -> None:
    assert arkit.ARKIT_BLENDSHAPES == channels.ARKIT_BLENDSHAPES
    assert arkit.HEAD_CHANNELS == channels.HEAD_CHANNELS
    assert arkit.ALL_CHANNELS == channels.ALL_CHANNELS
    assert arkit.EMOTIONS == emotion.EMOTIONS
    assert arkit.MAX_INTENSITY == emotion.MAX_INTENSITY
    assert addon_track.LIVELINK_BLENDSHAPES == livelink_csv.LIVELINK_BLENDSHAPES
    assert addon_track.GAZE_RANGE_RADIANS == livelink_csv.GAZE_RANGE_RADIANS


@pytest.mark.parametrize(
    ("name", "channel"),
    [
        ("jawOpen", "jawOpen"),
        ("JawOpen", "jawOpen"),
        ("jaw_open", "jawOpen"),
        ("eyeBlink_L", "eyeBlinkLeft"),
        ("EyeBlink.R", "eyeBlinkRight"),
        ("eyeBlinkLeft", "eyeBlinkLeft"),
        ("EyeBlinkRight", "eyeBlinkRight"),
        ("eye_blink_left", "eyeBlinkLeft"),
        ("mouthSmile_R", "mouthSmileRight"),
        ("mouthSmileL", "mouthSmileLeft"),
        ("blendShape1.jawOpen", "jawOpen"),
        ("Face:cheekSquint_L", "cheekSquintLeft"),
        ("A01_browInnerUp", "browInnerUp"),
        ("Face.browInnerUp", "browInnerUp"),
        ("CTRL_expressions_mouthSmileLeft", "mouthSmileLeft"),
        ("EyeBlink_L", "eyeBlinkLeft"),
        ("EYEBLINKLEFT", "eyeBlinkLeft"),
        ("eyeBlink.L", "eyeBlinkLeft"),
        ("Basis", None),
        ("jaw", None),
        ("Corrective_elbow", None),
    ],
)
def test_shape_key_names_match_channels(name: str, channel: str | None) -> None:
    assert arkit.channel_for(name) == channel


def test_first_of_two_spellings_wins() -> None:
    found = arkit.match_shape_keys(["JawOpen", "jawOpen", "Basis", "tongue_out"])
    assert found == {"jawOpen": "JawOpen", "tongueOut": "tongue_out"}


def test_a_whole_name_wins_over_a_prefixed_one() -> None:
    found = arkit.match_shape_keys(["Old_jawOpen", "jaw_open", "A1_cheekPuff", "B2_cheekPuff"])
    assert found == {"jawOpen": "jaw_open", "cheekPuff": "A1_cheekPuff"}
    assert arkit.unmatched(found)[:2] == ["eyeBlinkLeft", "eyeLookDownLeft"]


def random_track(rng: np.random.Generator) -> FaceTrack:
    layers = {}
    for name in ("lips", "emotion", "head", "eyes"):
        values = rng.random((37, 58)).astype(np.float32) * 0.6
        values[:, rng.choice(58, 30, replace=False)] = 0  # sparse columns, as engines make
        layers[name] = values
    layers["emotion"][:, 3] -= 0.4
    return FaceTrack(
        Fraction(30000, 1001),
        layers,
        start_frame=1799,  # timecodes cross a minute at the nominal rate
        emotion=rng.random((37, 8)).astype(np.float32),
        provenance={"engine": "default", "seed": 3},
    )


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_addon_writers_produce_the_backends_bytes(tmp_path: Path, suffix: str) -> None:
    track = random_track(np.random.default_rng(7))
    mine = addon_track.Track(
        fps=track.fps,
        layers=track.layers,
        start_frame=track.start_frame,
        emotion=track.emotion,
        provenance=track.provenance,
    )
    addon_track.save(mine, tmp_path / f"addon{suffix}")
    save_track(track, tmp_path / f"backend{suffix}")
    assert (tmp_path / f"addon{suffix}").read_bytes() == (
        tmp_path / f"backend{suffix}"
    ).read_bytes()
    back = load_track(tmp_path / f"addon{suffix}")
    if suffix == ".json":
        assert back == track
    else:
        assert back.start_frame == track.start_frame and back.fps == 30
        assert np.array_equal(back.values[:, :55], track.values[:, :55])


def test_addon_reads_the_backends_json(tmp_path: Path) -> None:
    track = random_track(np.random.default_rng(8))
    save_track(track, tmp_path / "t.json")
    mine = addon_track.from_json((tmp_path / "t.json").read_text())
    assert mine.fps == track.fps and mine.start_frame == track.start_frame
    assert mine.layers.keys() == track.layers.keys()
    assert all(np.array_equal(mine.layers[k], track.layers[k]) for k in track.layers)
    assert np.array_equal(mine.values, track.values)
    assert np.array_equal(mine.emotion, track.emotion)


def test_damaged_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="take.json: not an EmoSpeaker FaceTrack"):
        addon_track.from_json('{"format": "other"}', "take.json")
    with pytest.raises(ValueError, match="take.json: not JSON"):
        addon_track.from_json("{", "take.json")
    with pytest.raises(ValueError, match="unknown track format"):
        addon_track.save(addon_track.Track(Fraction(24), {"a": np.zeros((1, 58))}), "x.txt")


def test_wheel_platforms_need_every_package() -> None:
    build = build_script()
    pypi = [  # the files pip downloads for the four platforms
        "grpcio-1.85.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "grpcio-1.85.1-cp311-cp311-win_amd64.whl",
        "grpcio-1.85.1-cp311-cp311-macosx_11_0_universal2.whl",
        "protobuf-4.25.9-cp37-abi3-manylinux2014_x86_64.whl",
        "protobuf-4.25.9-cp310-abi3-win_amd64.whl",
        "protobuf-4.25.9-cp37-abi3-macosx_10_9_universal2.whl",
        "typing_extensions-4.16.0-py3-none-any.whl",
    ]
    paths = [Path(p) for p in pypi]
    assert build.wheel_platforms(paths) == list(build.PLATFORMS)
    without_windows_protobuf = [p for p in paths if "protobuf" not in p.name or "win" not in p.name]
    assert "windows-x64" not in build.wheel_platforms(without_windows_protobuf)
    pins = build.pins()  # from constraints.txt; the stubs need protobuf 4 (protoc 1.62)
    assert set(pins) == set(build.BUNDLED) and pins["protobuf"].startswith("4.")
