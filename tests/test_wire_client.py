"""The pure-Python client's builders and track assembly, checked against the numpy side."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.emotion import EmotionTimeline
from emospeaker.server import convert
from emospeaker.track import FaceTrack
from emospeaker.wire import client as wc


def sparse_track(frames: int = 23) -> FaceTrack:
    rng = np.random.default_rng(3)
    layers = {}
    for i, name in enumerate(("lips", "emotion", "head", "custom")):
        layer = np.zeros((frames, len(ALL_CHANNELS)), np.float32)
        cols = rng.choice(len(ALL_CHANNELS), 5 + i, replace=False)
        layer[:, cols] = rng.normal(0, 0.3, (frames, len(cols)))
        layer[frames // 2 :, cols[0]] = 0  # a channel silent in later chunks
        layers[name] = layer
    emotion = rng.uniform(0, 1, (frames, 8)).astype(np.float32)
    provenance = {"engine": "x", "seed": 4, "options": {"a": 1.5}}
    return FaceTrack(Fraction(24000, 1001), layers, start_frame=-12, emotion=emotion,
                     provenance=provenance)  # fmt: skip


def matrix(data) -> np.ndarray:
    return np.frombuffer(data, np.float32).reshape(23, -1)


def test_any_chunking_assembles_the_exact_track():
    track = sparse_track()
    for per_chunk in (1, 5, 23, 4096):
        assembler = wc.TrackAssembler()
        for event in convert.track_events(track, per_chunk, seconds=0.5):
            assembler.add(getattr(event, event.WhichOneof("event")))
        plain = assembler.track()
        assert plain.fps == (24000, 1001) and plain.start_frame == -12 and plain.seconds == 0.5
        assert np.array_equal(matrix(plain.values), track.values)
        for name, layer in track.layers.items():
            assert np.array_equal(matrix(plain.layers[name]), layer)
        jaw = track.layers["lips"][:, index_of("jawOpen")]
        assert plain.column("jawOpen", "lips").tolist() == jaw.tolist()
        assert plain.emotion_column("sad").tolist() == track.emotion[:, 6].tolist()
        assert plain.provenance == track.provenance


def test_track_message_round_trips_through_the_server_side():
    track = sparse_track()
    assembler = wc.TrackAssembler()
    for event in convert.track_events(track, 7, seconds=0):
        assembler.add(getattr(event, event.WhichOneof("event")))
    message = wc.track_message(assembler.track(), frames_per_chunk=10)
    assert all(len(c.channels) < len(ALL_CHANNELS) for c in message.layers)  # sparse
    assert convert.track_from_wire(message, max_seconds=60) == track


def test_emotion_builders_match_the_timeline():
    keys = wc.emotion_keys(
        [
            {"time": 0.0, "emotion": "neutral", "intensity": 0},
            {"frame": 48, "emotions": {"happy": 0.6, "sad": 0.2}, "interpolation": "linear"},
            (4.0, {"angry": 1.0}),
        ]
    )
    request = wc.animate_request(b"x", emotion=keys)
    timeline = convert.emotion_from_wire(request)
    expected = EmotionTimeline.parse("0s=neutral:0,48f=happy:0.6+sad:0.2@linear,4s=angry:1")
    fps = Fraction(24)
    assert np.array_equal(timeline.curves(fps, 120), expected.curves(fps, 120))
    rows = np.random.default_rng(0).uniform(0, 2, (9, 8)).astype(np.float32)
    for curves in (wc.emotion_curves(rows.tolist()), wc.emotion_curves(rows.ravel().tolist(), 9)):
        request = wc.animate_request(b"x", emotion=curves)
        assert np.array_equal(convert.emotion_from_wire(request), rows)


def test_retrying_clients_replay_requests_larger_than_grpcs_default_buffer():
    """A line's audio is megabytes; gRPC keeps 256 KiB of a call to replay it by default, so
    a retrying client must raise that or a busy replica's refusal fails the line."""
    from concurrent import futures

    import grpc

    attempts: list[int] = []

    def animate(request: bytes, context: grpc.ServicerContext):
        attempts.append(len(request))
        if len(attempts) == 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        yield b"done"

    handler = grpc.method_handlers_generic_handler(
        wc.SERVICE, {"Animate": grpc.unary_stream_rpc_method_handler(animate)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with wc.Client(f"127.0.0.1:{port}", retry=True, timeout=30) as client:
            call = client._channel.unary_stream(
                f"/{wc.SERVICE}/Animate",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            assert list(call(bytes(1_000_000))) == [b"done"]
    finally:
        server.stop(0)
    assert attempts == [1_000_000, 1_000_000]


def test_a_bad_replica_list_is_an_invalid_server_argument():
    import pytest

    for address, says in (
        ("127.0.0.1:1,[::1]:2", "mixes IPv4 and IPv6"),
        ("127.0.0.1,127.0.0.1:2", "must be HOST:PORT"),
        ("nohost.invalid:1,127.0.0.1:2", "cannot resolve 'nohost.invalid'"),
    ):
        with pytest.raises(wc.InvalidRequest, match=says) as caught:
            wc.channel_target(address)
        assert caught.value.field == "server"
    assert wc.channel_target("127.0.0.1:1, 127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"


def test_cli_names_a_bad_server_list_without_a_traceback(run_cli):
    from conftest import SAMPLE_AUDIO

    proc = run_cli("animate", SAMPLE_AUDIO, "--server", "127.0.0.1:1,[::1]:2", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "mixes IPv4 and IPv6" in proc.stderr
