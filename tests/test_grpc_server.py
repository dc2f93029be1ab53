"""The gRPC backend against a real server on 127.0.0.1 (in-process, on a free port)."""

from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import SAMPLE_AUDIO
from emospeaker.api import animate
from emospeaker.audio import audio_from_pcm, load_audio
from emospeaker.emotion import EMOTIONS, EmotionTimeline
from emospeaker.remote import remote_request
from emospeaker.server import capabilities, convert
from emospeaker.server.limits import DEFAULT_FRAMES_PER_CHUNK
from emospeaker.wire import client as wc
from emospeaker.wire import emospeaker_pb2 as pb
from grpc_support import (
    SlowEngine,
    extra_components,
    make_certificate,
    running_server,
    speech_pcm,
)


@pytest.fixture(scope="module", autouse=True)
def components():
    with extra_components():
        yield


@pytest.fixture(scope="module")
def server():
    with running_server(max_concurrent=16) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with wc.Client(server.address, timeout=60) as c:
        yield c


@pytest.fixture
def small():
    """One worker, 3 s of audio, 1 MB requests: a fresh server per test, so a slow call in
    one test never makes another busy."""
    with running_server(max_concurrent=1, max_audio_seconds=3, max_message_bytes=1_000_000) as s:
        with wc.Client(s.address, timeout=30) as c:
            yield c


def pcm_request(seconds: float = 1.0, voice: int = 0, **fields) -> pb.AnimateRequest:
    """`seconds` of speech-like PCM (`voice` picks which); 30 fps unless `fps` is given."""
    audio = wc.audio_pcm(speech_pcm(seconds, seed=voice), 16000, name=f"pcm{voice}")
    return wc.animate_request(audio, **fields)


def slow_request(seconds: float) -> pb.AnimateRequest:
    return pcm_request(0.5, engine="slow", options={"seconds": seconds})


def local_from_pcm(seconds: float, voice: int, timeline, **kwargs):
    """What `api.animate` gives in-process for the audio of `pcm_request(seconds, voice)`."""
    pcm = np.frombuffer(speech_pcm(seconds, seed=voice), "<i2").astype(np.int16)
    return animate(audio_from_pcm(pcm, 16000, name=f"pcm{voice}"), timeline, **kwargs)


def wait_accepted(client: wc.Client, limit: float = 3.0) -> float:
    """Seconds until the server accepts a call again (all workers were busy)."""
    started = time.monotonic()
    while True:
        try:
            client.animate_track(pcm_request(0.2))
            return time.monotonic() - started
        except wc.ServerBusy:
            if time.monotonic() - started > limit:
                raise
            time.sleep(0.01)


def dense(data, frames: int) -> np.ndarray:
    return np.frombuffer(data, np.float32).reshape(frames, -1)


# ---------------------------------------------------------------------------------------------
# Remote equals local


@pytest.mark.parametrize(
    "fps, keys, per_chunk",
    [
        ("30000/1001", "0s=neutral:0,2s=happy:0.9,4.5s=sad:0.6@linear,150f=angry:0.3", 0),
        ("24", "happy:0.7+surprised:0.2", 7),
    ],
)
def test_remote_track_equals_local(client, fps, keys, per_chunk):
    timeline = EmotionTimeline.parse(keys)
    settings = dict(fps=fps, start_frame=100, seed=7)
    local = animate(load_audio(SAMPLE_AUDIO), timeline, **settings)
    request = remote_request(SAMPLE_AUDIO, timeline, **settings)
    request.frames_per_chunk = per_chunk
    events = list(client.animate(request))

    assert convert.track_from_events(events) == local  # layers, emotion, provenance: exact
    kinds = [type(e).__name__ for e in events]
    header = kinds.index("TrackHeader")
    assert set(kinds[:header]) == {"Progress"} and kinds[-1] == "Summary"
    chunks = [e for e in events if isinstance(e, pb.FrameChunk)]
    assert len(chunks) == -(-local.frames // (per_chunk or DEFAULT_FRAMES_PER_CHUNK))
    assert chunks[-1].time == pytest.approx(chunks[-1].first_frame / float(local.fps))

    assembler = wc.TrackAssembler()
    for event in events:
        assembler.add(event)
    track = assembler.track()  # the add-on's view: plain Python arrays
    assert track.fps == (local.fps.numerator, local.fps.denominator)
    assert track.start_frame == 100 and track.channels == list(local.channels)
    assert np.array_equal(dense(track.values, local.frames), local.values)
    for name, layer in local.layers.items():
        assert np.array_equal(dense(track.layers[name], local.frames), layer)
    assert np.array_equal(dense(track.emotion, local.frames), local.emotion)
    assert track.emotions == list(EMOTIONS) and track.provenance == local.provenance
    jaw = local.channels.index("jawOpen")
    assert list(track.column("jawOpen")) == local.values[:, jaw].tolist()


def test_dense_curves_are_cut_or_held_to_the_track_length(client):
    frames = 30  # 1 s at 30 fps
    rng = np.random.default_rng(1)
    for given in (frames, frames - 6, frames + 9):
        curves = rng.uniform(0, 1, (given, 8)).astype(np.float32)
        request = pcm_request(1.0, emotion=wc.emotion_curves(curves.tolist()))
        track = client.animate_track(request)
        expected = convert.fit_curves(curves, frames)
        assert np.array_equal(dense(track.emotion, frames), expected)
        local = local_from_pcm(1.0, 0, expected)
        assert np.array_equal(dense(track.values, frames), local.values)


def test_sixteen_concurrent_streams_are_all_correct(client):
    cases = [
        dict(fps=("25", "30000/1001", "24", "60")[i % 4], emotion={EMOTIONS[i % 8]: i / 16})
        for i in range(16)
    ]

    def remote(i: int) -> wc.Track:
        return client.animate_track(pcm_request(1.5, voice=i, seed=i, **cases[i]))

    with ThreadPoolExecutor(16) as pool:
        tracks = list(pool.map(remote, range(16)))
    for i, track in enumerate(tracks):
        c = cases[i]
        timeline = EmotionTimeline.constant(c["emotion"])
        local = local_from_pcm(1.5, i, timeline, fps=c["fps"], seed=i)
        assert track.fps == (local.fps.numerator, local.fps.denominator)
        for name, layer in local.layers.items():
            assert np.array_equal(dense(track.layers[name], local.frames), layer), (i, name)
        assert np.array_equal(dense(track.emotion, local.frames), local.emotion)


# ---------------------------------------------------------------------------------------------
# Cancellation, deadlines, busy


def test_cancel_stops_the_engine_and_frees_the_worker(small):
    before = SlowEngine.cancelled
    stream = small.animate(slow_request(60))
    events = iter(stream)
    assert isinstance(next(events), pb.Progress)
    with pytest.raises(wc.ServerBusy):  # the only worker is taken
        small.animate_track(pcm_request(0.2))
    stream.cancel()
    with pytest.raises(wc.CallCancelled):
        list(events)
    assert wait_accepted(small) < 1.0
    assert SlowEngine.cancelled == before + 1 and SlowEngine.running == 0


def test_cancel_from_progress_callback_and_event(small):
    with pytest.raises(wc.CallCancelled):
        small.animate_track(slow_request(60), on_progress=lambda stage, f: False)
    assert wait_accepted(small) < 1.0
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    started = time.monotonic()
    with pytest.raises(wc.CallCancelled):
        small.animate_track(slow_request(60), cancel_event=flag)
    assert time.monotonic() - started < 1.5
    assert wait_accepted(small) < 1.0


def test_deadline_stops_the_work(small):
    started = time.monotonic()
    with pytest.raises(wc.DeadlineExceeded):
        small.animate_track(slow_request(60), timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert wait_accepted(small) < 1.0


def test_busy_is_refused_at_once_and_light_calls_still_answer(small):
    stream = small.animate(slow_request(60))
    events = iter(stream)
    next(events)
    started = time.monotonic()
    with pytest.raises(wc.ServerBusy) as busy:
        small.animate_track(pcm_request(0.2))
    assert time.monotonic() - started < 0.5
    assert busy.value.code == "RESOURCE_EXHAUSTED" and "max-concurrent" in busy.value.details
    assert small.capabilities().limits.max_concurrent == 1
    stream.cancel()


# ---------------------------------------------------------------------------------------------
# Bad input: the right status, the field named, and the server keeps serving


def _audio(**kw) -> pb.Audio:
    return pb.Audio(**kw)


def _keys(**intensities) -> pb.EmotionKeys:
    return wc.emotion_keys([(0.0, intensities)])


BAD_REQUESTS = {
    "garbage audio": (
        dict(audio=_audio(encoded=b"this is not a sound file" * 10)),
        "INVALID_ARGUMENT", "audio", "cannot decode",
    ),
    "empty audio": (dict(audio=_audio(encoded=b"")), "INVALID_ARGUMENT", "audio", "empty"),
    "no audio": (dict(audio=None), "INVALID_ARGUMENT", "audio", "required"),
    "silent audio": (
        dict(audio=wc.audio_pcm(bytes(32000), 16000)), "INVALID_ARGUMENT", "audio", "silent",
    ),
    "too-long audio": (
        dict(audio=wc.audio_file(SAMPLE_AUDIO)), "RESOURCE_EXHAUSTED", "audio", "limit of 3 s",
    ),
    "oversize message": (
        dict(audio=_audio(encoded=bytes(1_200_000))), "RESOURCE_EXHAUSTED", None, "larger than max",
    ),
    "pcm odd bytes": (
        dict(audio=wc.audio_pcm(b"\x01\x02\x03", 16000)),
        "INVALID_ARGUMENT", "audio.pcm.samples", "multiple of 2",
    ),
    "pcm rate 0": (
        dict(audio=wc.audio_pcm(speech_pcm(0.5), 0)), "INVALID_ARGUMENT", "sample_rate", "Hz",
    ),
    "pcm too short": (
        dict(audio=wc.audio_pcm(b"\x01\x00", 384000)), "INVALID_ARGUMENT", "audio", "empty",
    ),
    "pcm channels": (
        dict(audio=wc.audio_pcm(speech_pcm(0.5), 16000, channels=1000)),
        "INVALID_ARGUMENT", "audio.pcm.channels", "1..64",
    ),
    "unknown emotion": (dict(emotion=_keys(joyful=1.0)), "INVALID_ARGUMENT", "emotion", "happy"),
    "intensity too high": (
        dict(emotion=_keys(happy=9.0)), "INVALID_ARGUMENT", "intensity", "0 to 4",
    ),
    "intensity NaN": (
        dict(emotion=_keys(sad=float("nan"))), "INVALID_ARGUMENT", "intensity", "nan",
    ),
    "key without time": (
        dict(emotion=pb.EmotionKeys(keys=[pb.EmotionKey(intensities={"happy": 1})])),
        "INVALID_ARGUMENT", "emotion.keys[0]", "seconds",
    ),
    "key time infinite": (
        dict(emotion=wc.emotion_keys([(float("inf"), {"happy": 1.0})])),
        "INVALID_ARGUMENT", "time", "finite",
    ),
    "bad interpolation": (
        dict(emotion=wc.emotion_keys([(0.0, {"happy": 1.0}, "bouncy")])),
        "INVALID_ARGUMENT", "interpolation", "smooth",
    ),
    "curves shape": (
        dict(emotion=pb.EmotionCurves(frames=10, values=[0.1] * 79)),
        "INVALID_ARGUMENT", "emotion_curves", "frames x 8",
    ),
    "curves values": (
        dict(emotion=pb.EmotionCurves(frames=1, values=[0.1] * 7 + [float("inf")])),
        "INVALID_ARGUMENT", "emotion_curves", "[0, 4]",
    ),
    "fps 0": (dict(fps=pb.Rational(num=0, den=1)), "INVALID_ARGUMENT", "fps", "positive"),
    "fps negative": (dict(fps=pb.Rational(num=-30, den=1)), "INVALID_ARGUMENT", "fps", "positive"),
    "fps negative den": (
        dict(fps=pb.Rational(num=30, den=-1)), "INVALID_ARGUMENT", "fps", "positive",
    ),
    "fps absurd": (dict(fps=pb.Rational(num=10**15, den=1)), "INVALID_ARGUMENT", "fps", "1000"),
    "unknown engine": (dict(engine="neuralink"), "INVALID_ARGUMENT", "engine", "default"),
    "broken engine": (dict(engine="broken"), "FAILED_PRECONDITION", None, "not available"),
    "unknown option": (dict(options={"speed": "2"}), "INVALID_ARGUMENT", "options", "speed"),
    "bad option value": (
        dict(engine="slow", options={"seconds": "soon"}),
        "INVALID_ARGUMENT", "options.seconds", "float",
    ),
    "negative seed": (dict(seed=-1), "INVALID_ARGUMENT", "seed", ">= 0"),
    "huge chunks": (dict(frames_per_chunk=100_000), "INVALID_ARGUMENT", "frames_per_chunk", "8192"),
    "transcript too long": (
        dict(transcript="word " * 20_001), "RESOURCE_EXHAUSTED", "transcript", "100000",
    ),
    "start frame absurd": (dict(start_frame=10**12), "INVALID_ARGUMENT", "start_frame", "+-"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_a_clear_status_and_the_server_keeps_serving(small, case):
    fields, code, field, fragment = BAD_REQUESTS[case]
    request = pcm_request(0.5)
    for name, value in fields.items():
        if value is None:
            request.ClearField(name)
        elif isinstance(value, pb.EmotionKeys):
            request.keys.CopyFrom(value)
        elif isinstance(value, pb.EmotionCurves):
            request.curves.CopyFrom(value)
        elif isinstance(value, dict):
            getattr(request, name).update(value)
        elif hasattr(value, "CopyFrom"):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    with pytest.raises(wc.ClientError) as error:
        small.animate_track(request)
    assert error.value.code == code, error.value
    assert error.value.field == field
    assert fragment.lower() in error.value.details.lower()
    assert small.animate_track(pcm_request(0.5)).frames == 15  # still serving


def test_malformed_bytes_are_invalid_argument(server):
    channel = grpc.insecure_channel(server.address)
    raw = channel.unary_stream(
        "/emospeaker.v1.EmoSpeaker/Animate",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError) as error:
        list(raw(b"\xff\xff\xff\xff", timeout=10))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid emospeaker.v1.AnimateRequest" in error.value.details()
    channel.close()


# ---------------------------------------------------------------------------------------------
# Security


def test_token_is_checked_on_every_call_but_health_stays_open():
    with running_server(token="s3cret") as s:
        for token in (None, "wrong"):
            with wc.Client(s.address, token=token, timeout=10) as c:
                with pytest.raises(wc.AuthenticationFailed):
                    c.capabilities()
                with pytest.raises(wc.AuthenticationFailed):
                    c.animate_track(pcm_request(0.2))
        with wc.Client(s.address, token="s3cret", timeout=10) as c:
            assert c.animate_track(pcm_request(0.2)).frames == 6
        channel = grpc.insecure_channel(s.address)
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as error:
            list(reflect.ServerReflectionInfo(iter([ask]), timeout=5))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        channel.close()


def test_tls_with_a_generated_certificate(tmp_path):
    cert, key = make_certificate(tmp_path)
    with running_server(token="t", tls=(cert, key)) as s:
        for address in (s.address, f"localhost:{s.server.port}"):
            with wc.Client(address, token="t", tls_root_cert=cert, timeout=10) as c:
                assert c.animate_track(pcm_request(0.2)).frames == 6
        with wc.Client(s.address, token="t", timeout=3) as plain:
            with pytest.raises(wc.ServerUnavailable):
                plain.capabilities()
        (tmp_path / "other").mkdir()
        other, _ = make_certificate(tmp_path / "other")
        with wc.Client(s.address, token="t", tls_root_cert=other, timeout=3) as untrusted:
            with pytest.raises(wc.ServerUnavailable):
                untrusted.capabilities()


# ---------------------------------------------------------------------------------------------
# Capabilities, health, reflection


def test_capabilities(client):
    caps = client.capabilities()
    engines = {e.name: e for e in caps.engines}
    assert engines["default"].available and engines["default"].version
    assert not engines["broken"].available
    assert "not_installed" in engines["broken"].unavailable_reason
    seconds = {o.name: o for o in engines["slow"].options}["seconds"]
    assert (seconds.type, seconds.default_value, seconds.maximum) == ("float", "1.0", 600.0)
    renderers = {r.name: r for r in caps.renderer_info}
    assert renderers["flat"].available and "flat" in caps.renderers
    assert not renderers["missing"].available and "missing" not in caps.renderers
    assert list(caps.emotions) == list(EMOTIONS) and len(caps.channels) == 58
    assert caps.limits.max_concurrent == 16 and caps.limits.max_audio_seconds == 900
    assert caps.compute_device == capabilities.compute_device()  # "cpu" on a CPU machine


def test_health_and_reflection(server):
    channel = grpc.insecure_channel(server.address)
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "emospeaker.v1.EmoSpeaker"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="emospeaker.v1.EmoSpeaker"),
    ]
    replies = list(reflect.ServerReflectionInfo(iter(requests), timeout=5))
    services = {s.name for s in replies[0].list_services_response.service}
    assert {"emospeaker.v1.EmoSpeaker", "grpc.health.v1.Health"} <= services
    assert replies[1].file_descriptor_response.file_descriptor_proto
    channel.close()


# ---------------------------------------------------------------------------------------------
# Render


def _render_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("emospeaker-serve-*/emospeaker-render-*"))


def test_render_streams_an_mp4_and_cleans_up(client, tmp_path):
    before = _render_dirs()
    request = wc.render_request("flat", animate=pcm_request(1.0), size=256)
    progress = []
    result = client.render_to(
        request, tmp_path / "out.mp4", on_progress=lambda s, f: progress.append(f)
    )
    assert result.frames == 30 and result.mime_type == "video/mp4"
    assert progress and progress == sorted(progress)
    with av.open(str(tmp_path / "out.mp4")) as video:
        assert video.streams.video[0].height == 256 and video.streams.audio
        assert sum(1 for _ in video.decode(video=0)) == 30
    # the same from an existing track (as the add-on sends an edited one), in memory
    track = client.animate_track(pcm_request(1.0))
    again = client.render_to(wc.render_request("flat", track=track, size=256), None)
    assert again.data[4:8] == b"ftyp" and again.frames == 30
    assert _render_dirs() == before and not list(tmp_path.glob("*.part"))


def test_render_refusals(small, tmp_path):
    with pytest.raises(wc.NotSupported, match="'missing'"):
        small.render_to(wc.render_request("missing", animate=pcm_request(0.5)), None)
    with pytest.raises(wc.InvalidRequest, match="unknown renderer 'sketch'") as error:
        small.render_to(wc.render_request("sketch", animate=pcm_request(0.5)), None)
    assert error.value.field == "renderer"
    with pytest.raises(wc.InvalidRequest, match="size 300"):
        small.render_to(wc.render_request("flat", animate=pcm_request(0.5), size=300), None)
    # terms beyond what mp4 stores are snapped to the nearest sensible rate: here none (0 fps)
    with pytest.raises(wc.InvalidRequest, match="must be > 0") as error:
        small.render_to(wc.render_request("mesh", animate=pcm_request(0.5, fps=(1, 2**31))), None)
    assert error.value.field == "fps"
    broken = wc.track_message(small.animate_track(pcm_request(0.5)))
    broken.layers[0].values.append(1.0)
    with pytest.raises(wc.InvalidRequest, match="values for"):
        small.render_to(wc.render_request("flat", track=broken), tmp_path / "x.mp4")
    assert not list(tmp_path.iterdir())  # no partial file on the client either
    twice = wc.track_message(small.animate_track(pcm_request(0.5)))
    twice.header.channels.append(twice.header.channels[0])
    with pytest.raises(wc.InvalidRequest, match="'eyeBlinkLeft' appears twice"):
        small.render_to(wc.render_request("flat", track=twice), None)
    twice = wc.track_message(small.animate_track(pcm_request(0.5)))
    chunk = next(c for c in twice.layers if c.channels)
    chunk.channels.append(chunk.channels[0])
    with pytest.raises(wc.InvalidRequest, match="appears twice"):
        small.render_to(wc.render_request("flat", track=twice), None)


def test_render_refuses_an_oversized_portrait_before_decoding_it(small, tmp_path):
    import cv2

    huge = cv2.imencode(".png", np.zeros((9000, 9000), np.uint8))[1].tobytes()  # ~90 kB
    request = wc.render_request("flat", animate=pcm_request(0.5), portrait=huge)
    with pytest.raises(wc.LimitExceeded, match="9000x9000 is over 50000000 pixels") as error:
        small.render_to(request, tmp_path / "x.mp4")
    assert error.value.field == "portrait"
    request = wc.render_request("flat", animate=pcm_request(0.5), portrait=b"not a picture")
    with pytest.raises(wc.InvalidRequest, match="portrait: not an image") as error:
        small.render_to(request, tmp_path / "x.mp4")
    assert error.value.field == "portrait"
    assert not list(tmp_path.iterdir())
    assert small.render_to(wc.render_request("flat", animate=pcm_request(0.5)), None).frames


def test_render_cancel_removes_the_work_folder(small):
    before = _render_dirs()
    stream = small.render(wc.render_request("flat", animate=slow_request(60)))
    events = iter(stream)
    next(events)
    assert len(_render_dirs() - before) == 1
    stream.cancel()
    assert wait_accepted(small) < 1.0
    deadline = time.monotonic() + 2
    while _render_dirs() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _render_dirs() == before


def test_fps_is_exact_rational(client):
    track = client.animate_track(pcm_request(1.0, fps=29.97))
    assert track.fps == (30000, 1001) and track.frames == 30
    assert Fraction(*track.fps) == Fraction(30000, 1001)


def test_a_taken_port_is_an_error_not_a_shared_listener(server):
    from emospeaker.errors import InputError
    from emospeaker.server import Server, ServerConfig

    with pytest.raises(InputError, match="cannot listen"):
        Server(ServerConfig(port=server.server.port))


def test_compute_device_does_not_import_torch_but_trusts_a_loaded_one(monkeypatch):
    import subprocess
    import sys
    import types

    from conftest import cli_env
    from emospeaker.server.capabilities import compute_device

    code = (
        "import sys; from emospeaker.server.capabilities import compute_device; "
        "print(compute_device(), 'torch' in sys.modules)"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(command, capture_output=True, text=True, env=cli_env())
    first, *_, loaded = out.stdout.split()
    assert (first, loaded) == (compute_device().split()[0], "False"), out.stderr
    # a loaded torch that reports a GPU stands in for one (none here)
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: "NVIDIA H100")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert compute_device() == "cuda:0 (NVIDIA H100)"
