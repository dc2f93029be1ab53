"""Custom emotion poses: the file format, the default engine's emotion layer, the API's
warning for an engine that cannot use them, the wire and the CLI's --emotion-poses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.api import animate
from emospeaker.audio import load_audio
from emospeaker.channels import ALL_CHANNELS
from emospeaker.emotion import EMOTIONS, EmotionTimeline
from emospeaker.engines.default.emotion import emotion_layer, shape_intensity, soft_knee
from emospeaker.errors import InputError
from emospeaker.formats import load_track
from emospeaker.poses import dump_poses, load_poses, pose_vectors
from emospeaker.remote import remote_request
from emospeaker.server import convert
from emospeaker.wire import client as wc
from grpc_support import running_server

HAPPY = EMOTIONS.index("happy")
POSE = {"mouthFrownLeft": 0.875, "mouthFrownRight": 0.75, "browDownLeft": 0.375, "jawOpen": 0.5}
# (binary fractions: exact in the float32 the wire carries)


def col(name: str) -> int:
    return ALL_CHANNELS.index(name)


def test_a_pose_replaces_the_prototype_with_the_same_shaping_and_masking():
    intensity = np.linspace(0, 4, 81)
    curves = np.zeros((81, 8))
    curves[:, HAPPY] = intensity
    closed = np.zeros(81)
    closed[40] = 1.0  # a p/b/m closure on one frame
    builtin = emotion_layer(curves, closed)
    custom = emotion_layer(curves, closed, poses=pose_vectors({"happy": POSE}))
    expected = soft_knee(0.875 * shape_intensity(intensity))
    assert np.allclose(custom[:, col("mouthFrownLeft")], expected, atol=1e-6)
    assert np.all(np.diff(custom[:, col("mouthFrownLeft")]) > 0)  # strictly rising, no clip
    assert not custom[:, col("mouthSmileLeft")].any() and builtin[:, col("mouthSmileLeft")].any()
    assert custom[40, col("jawOpen")] == 0 and custom[41, col("jawOpen")] > 0  # closure kept
    # the head posture of the emotion stays; another emotion keeps its prototype
    assert np.array_equal(custom[:, 52:], builtin[:, 52:])
    sad = np.zeros((5, 8))
    sad[:, EMOTIONS.index("sad")] = 1
    assert np.array_equal(
        emotion_layer(sad, np.zeros(5), poses=pose_vectors({"happy": POSE})),
        emotion_layer(sad, np.zeros(5)),
    )


def test_the_file_round_trips_and_bad_files_name_the_problem(tmp_path):
    path = tmp_path / "poses.json"
    path.write_text(dump_poses({"happy": POSE}, {"blink_rate": 0.5}, "Hero"))
    assert load_poses(path) == ({"happy": POSE}, {"blink_rate": 0.5})
    bad = {
        "not json": ("{", "not JSON"),
        "format": ('{"format": "x", "version": 1}', "not an emotion-poses file"),
        "version": ('{"format": "emospeaker-emotion-poses", "version": 9}', "version 9"),
        "emotion": ('{"format": "emospeaker-emotion-poses", "version": 1, "poses": '
                    '{"glee": {}}}', "unknown emotion 'glee'"),
        "channel": ('{"format": "emospeaker-emotion-poses", "version": 1, "poses": '
                    '{"sad": {"frown": 1}}}', "'frown' is not an ARKit blendshape"),
        "value": ('{"format": "emospeaker-emotion-poses", "version": 1, "poses": '
                  '{"sad": {"jawOpen": 3}}}', "sad.jawOpen: 3 must be a number in [-1, 1]"),
        "gains": ('{"format": "emospeaker-emotion-poses", "version": 1, "gains": '
                  '{"speed": 2}}', "may hold only lip_gain, head_motion, blink_rate"),
    }  # fmt: skip
    for case, (text, message) in bad.items():
        path.write_text(text)
        with pytest.raises(InputError) as error:
            load_poses(path)
        assert message in str(error.value) and "poses.json" in str(error.value), case


def test_default_engine_uses_poses_and_neural_says_it_does_not():
    audio = load_audio(SAMPLE_AUDIO)
    happy = EmotionTimeline.constant({"happy": 1.0})
    plain = animate(audio, happy)
    posed = animate(audio, happy, emotion_poses={"happy": POSE})
    frown = posed.layers["emotion"][:, col("mouthFrownLeft")]
    assert np.allclose(frown, soft_knee(0.875 * shape_intensity(np.array(1.0))), atol=1e-6)
    assert np.array_equal(posed.layers["lips"], plain.layers["lips"])
    assert posed.provenance["emotion_poses"] == ["happy"] and "warnings" not in posed.provenance
    neural = animate(audio, happy, engine="neural", emotion_poses={"happy": POSE})
    (warning,) = neural.provenance["warnings"]
    assert "'neural' does not use custom emotion poses (happy)" in warning


def test_poses_cross_the_wire_and_bad_ones_are_refused():
    happy = EmotionTimeline.constant({"happy": 0.7})
    with running_server(max_concurrent=2) as server, wc.Client(server.address) as client:
        request = remote_request(SAMPLE_AUDIO, happy, emotion_poses={"happy": POSE})
        remote = client.animate_track(request)
        local = animate(load_audio(SAMPLE_AUDIO), happy, emotion_poses={"happy": POSE})
        emotion = np.frombuffer(remote.layers["emotion"], np.float32).reshape(remote.frames, -1)
        assert np.array_equal(emotion, local.layers["emotion"])
        caps = {e.name: e.emotion_poses for e in client.capabilities().engines}
        assert caps["default"] is True and caps.get("neural") is not True
        for poses, message in (
            ({"glee": {"jawOpen": 0.1}}, "unknown emotion 'glee'"),
            ({"sad": {"jawOpen": float("nan")}}, "sad.jawOpen"),
        ):
            bad = remote_request(SAMPLE_AUDIO, happy, emotion_poses=poses)
            with pytest.raises(wc.InvalidRequest) as error:
                client.animate_track(bad)
            assert error.value.field == "emotion_poses" and message in error.value.details
        mismatched = remote_request(SAMPLE_AUDIO, happy)
        mismatched.emotion_poses.add(emotion="sad", channels=["jawOpen", "mouthClose"])
        convert.set_floats(mismatched.emotion_poses[0], "values", np.array([0.1], np.float32))
        with pytest.raises(wc.InvalidRequest, match="1 values for 2 channels"):
            client.animate_track(mismatched)
        assert client.animate_track(request).frames == remote.frames  # still serving


def test_cli_emotion_poses_file(run_cli, tmp_path):
    poses = tmp_path / "hero.json"
    poses.write_text(dump_poses({"happy": POSE}, {"blink_rate": 0.0, "lip_gain": 1.5}))
    out = tmp_path / "t.json"
    run_cli("animate", SAMPLE_AUDIO, "--emotion", "happy:1", "--emotion-poses", poses,
            "--option", "lip_gain=1.2", "-o", out, "-q")  # fmt: skip
    track = load_track(out)
    assert track.provenance["emotion_poses"] == ["happy"]
    assert track.provenance["options"]["blink_rate"] == 0.0  # from the file
    assert track.provenance["options"]["lip_gain"] == 1.2  # --option wins
    assert track.layers["emotion"][:, col("mouthFrownLeft")].min() > 0.5
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "emospeaker-emotion-poses", "version": 1,
                                  "poses": {"happy": {"jawOpen": 2}}}))  # fmt: skip
    out2 = tmp_path / "t2.json"
    proc = run_cli("animate", SAMPLE_AUDIO, "--emotion-poses", broken, "-o", out2, check=False)
    assert proc.returncode == 2 and "broken.json: poses.happy.jawOpen" in proc.stderr
    assert "Traceback" not in proc.stderr and not out2.exists()
