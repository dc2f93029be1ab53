"""The `emospeaker` command line: animate, info, and how errors reach the user."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.emotion import EMOTION_INDEX, EMOTIONS
from emospeaker.formats import load_track


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_animate_writes_each_format(run_cli, tmp_path, suffix):
    out = tmp_path / f"hello{suffix}"
    proc = run_cli("animate", SAMPLE_AUDIO, "--emotion", "happy:0.8", "--fps", "25", "-o", out)
    track = load_track(out)
    assert track.fps == 25 and track.frames == 151  # 6.04 s at 25 fps
    assert "wrote" in proc.stderr and "151 frames" in proc.stderr
    if suffix != ".csv":
        assert np.allclose(track.emotion[:, EMOTION_INDEX["happy"]], 0.8)
        assert track.provenance["engine"] == "default"
        assert len(track.provenance["audio_sha256"]) == 64


def test_animate_inline_keys_transcript_file_and_start_frame(run_cli, tmp_path):
    transcript = tmp_path / "line.txt"
    transcript.write_text("Hello! My name is EmoSpeaker.")
    out = tmp_path / "t.json"
    run_cli(
        "animate",
        SAMPLE_AUDIO,
        "--emotion-keys",
        "0s=neutral:0,2s=sad:1@linear",
        "--transcript",
        transcript,
        "--fps",
        "24000/1001",
        "--start-frame",
        "1001",
        "-o",
        out,
    )
    track = load_track(out)
    assert track.fps == Fraction(24000, 1001) and track.start_frame == 1001
    sad = track.emotion[:, EMOTION_INDEX["sad"]]
    assert sad[0] == 0 and sad[-1] == 1 and np.all(np.diff(sad) >= 0)
    assert track.provenance["transcript"] is True


def test_animate_keys_from_json_file(run_cli, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"frame": 30, "emotion": "angry", "intensity": 1.5}]))
    out = tmp_path / "t.npz"
    run_cli("animate", SAMPLE_AUDIO, "--emotion-keys", keys, "-o", out)
    assert np.allclose(load_track(out).emotion[:, EMOTION_INDEX["angry"]], 1.5)


def test_default_output_name_is_next_to_the_working_directory(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_cli("animate", SAMPLE_AUDIO, "-q")
    assert (tmp_path / "hello.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--emotion", "glad:1"], "use one of: " + ", ".join(EMOTIONS)),
        (["--fps", "0"], "fps"),
        (["--emotion-keys", "1s=happy"], ""),  # a valid key: no error (control case)
        (["--option", "nonsense=1"], "has no option 'nonsense'"),
        (["-o", "out.txt"], "unknown track format '.txt'"),
    ],
)
def test_errors_are_one_clear_line_and_exit_2(run_cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # the control case writes hello.json next to the cwd
    proc = run_cli("animate", SAMPLE_AUDIO, *args, "-q", check=False)
    if not message:
        assert proc.returncode == 0
        return
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_audio_names_the_file_and_writes_nothing(run_cli, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    out = tmp_path / "t.json"
    proc = run_cli("animate", bad, "-o", out, check=False)
    assert proc.returncode == 2 and "notes.wav: cannot decode audio" in proc.stderr
    assert not out.exists()


def test_info_lists_channels_emotions_engines(run_cli):
    text = run_cli("info").stdout
    assert "jawOpen" in text and "headYaw" in text and "surprised" in text
    assert "default" in text
    info = json.loads(run_cli("info", "--json").stdout)
    assert len(info["channels"]) == 58 and info["emotions"] == list(EMOTIONS)
    assert "version" in info["engines"]["default"]


def test_version(run_cli):
    assert run_cli("--version").stdout.startswith("emospeaker ")


def test_a_transcript_that_does_not_match_warns_in_one_line(run_cli, tmp_path):
    wrong = "Seven slim swans swam silently across the frozen northern lake at dawn."
    proc = run_cli("animate", SAMPLE_AUDIO, "--transcript", wrong, "-o", tmp_path / "t.json")
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warning and warning[0].startswith("emospeaker: warning: transcript not used")
    assert "UserWarning" not in proc.stderr and ".py:" not in proc.stderr
    assert load_track(tmp_path / "t.json").provenance["phones"].startswith("recognised")
