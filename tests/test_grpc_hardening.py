"""Hostile requests against a real server on 127.0.0.1: each is refused before it costs
memory or time, names its field and limit, leaks nothing, and leaves the server serving.

The limits are set small (as `serve --max-...` flags would), so every bomb here is a few
hundred bytes and the tests stay cheap in time and memory.
"""

from __future__ import annotations

import gc
import time
from fractions import Fraction

import av
import grpc
import numpy as np
import pytest
import torch

from conftest import SAMPLE_AUDIO
from emospeaker.audio import audio_from_pcm
from emospeaker.channels import ALL_CHANNELS
from emospeaker.emotion import EMOTIONS
from emospeaker.engines import ENGINES
from emospeaker.engines.neural.checkpoint import save_checkpoint
from emospeaker.engines.neural.engine import ModelCache
from emospeaker.engines.neural.model import EmoSpeakerNet, ModelConfig, default_layer_channels
from emospeaker.errors import InputError
from emospeaker.formats import load_track
from emospeaker.render.video import write_video
from emospeaker.server import ServerConfig
from emospeaker.server.app import check_exposure, exposure_warning
from emospeaker.track import parse_fps
from emospeaker.wire import client as wc
from emospeaker.wire import emospeaker_pb2 as pb
from grpc_support import HoardingEngine, extra_components, running_server, speech_pcm
from neural_toy import AU_NAMES

SMALL = dict(
    max_concurrent=2,
    max_audio_seconds=60,
    max_track_values=200_000,
    max_render_pixels=50_000_000,
    max_emotion_keys=50,
    max_layers=8,
)


@pytest.fixture(scope="module", autouse=True)
def components():
    with extra_components():
        yield


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    cfg = ModelConfig(
        low_dim=24, mid_dim=32, high_dim=32, head_hidden=32, au_dim=16, code_dim=8,
        au_names=AU_NAMES, layer_channels=default_layer_channels(),
    )  # fmt: skip
    save_checkpoint(folder / "small.pt", EmoSpeakerNet(cfg))
    (folder / "junk.pt").write_bytes(b"first line of a secret\nsecond line\n")
    with running_server(checkpoint_dir=folder, **SMALL) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    with wc.Client(server.address, timeout=30) as c:
        yield c


def pcm(seconds: float = 0.5) -> pb.Audio:
    return wc.audio_pcm(speech_pcm(seconds), 16000)


def track_request(fps: int, frames: int, channels, layers, size: int = 256) -> pb.RenderRequest:
    """A Render of a track that is all header: a few hundred bytes declaring its size."""
    header = pb.TrackHeader(
        channels=channels, fps=pb.Rational(num=fps, den=1), frames=frames, layers=layers
    )
    return pb.RenderRequest(renderer="flat", size=size, track=pb.Track(header=header))


def refused(client: wc.Client, request, code: type = wc.LimitExceeded) -> wc.ClientError:
    """The error a request gets; it must come at once (the client's deadline is 30 s)."""
    started = time.monotonic()
    with pytest.raises(code) as error:
        if isinstance(request, pb.RenderRequest):
            client.render_to(request, None)
        else:
            client.animate_track(request)
    assert time.monotonic() - started < 2, "refused only after doing work"
    assert not isinstance(error.value, wc.ServerBusy)
    return error.value


# ---------------------------------------------------------------------------------------------
# 1. the work budget


def test_a_track_header_declaring_a_huge_track_is_refused_from_the_header(client):
    eight = ALL_CHANNELS[:8]
    # the attack: 900,001 frames at 1000 fps, 8 channels, 64 layers, in 368 bytes
    bomb = track_request(1000, 900_001, eight, [f"l{i}" for i in range(64)])
    assert bomb.ByteSize() < 600
    error = refused(client, bomb)
    assert error.field == "track.header.frames" and "--max-audio-seconds" in error.details
    error = refused(client, track_request(1000, 20_000, eight, [f"l{i}" for i in range(9)]))
    assert error.field == "track.header.layers" and "limit of 8" in error.details
    error = refused(client, track_request(1000, 20_000, eight, ["lips", "eyes"]))
    assert error.field == "track.header.frames" and "--max-track-values" in error.details
    assert "20000 frames x 8 channels x 2 layers = 320000 values" in error.details
    error = refused(client, track_request(25, 1000, eight, ["lips"], size=512))
    assert error.field == "track.header.frames" and "--max-render-pixels" in error.details


def test_a_sent_track_takes_only_known_channel_names(client):
    many = [f"c{i}" for i in range(1000)]
    error = refused(client, track_request(25, 10, many, ["lips"]), wc.InvalidRequest)
    assert error.field == "track.header.channels" and "unknown channel 'c0'" in error.details


def test_emotion_keys_over_the_limit_are_refused_before_they_are_read(client):
    keys = pb.EmotionKeys()
    for i in range(51):
        keys.keys.add(seconds=i * 0.01).intensities["happy"] = 0.5
    error = refused(client, wc.animate_request(pcm(), emotion=keys))
    assert error.field == "keys" and "51 emotion keys" in error.details and "50" in error.details
    keys.keys.pop()
    assert client.animate_track(wc.animate_request(pcm(), emotion=keys)).frames == 15
    for i in range(60_000):  # over 1 MiB: counted from the bytes before the request is parsed
        keys.keys.add(frame=i).intensities["sad"] = 0.25
    request = wc.render_request("flat", animate=wc.animate_request(pcm(), emotion=keys))
    assert request.ByteSize() > 1024 * 1024
    error = refused(client, request)
    assert error.field == "animate.keys" and "60050 emotion keys" in error.details


def test_custom_poses_are_at_most_one_per_emotion_over_known_channels(client):
    request = wc.animate_request(pcm())
    for i in range(len(EMOTIONS) + 1):
        request.emotion_poses.add(emotion=EMOTIONS[i % len(EMOTIONS)], channels=["jawOpen"])
    error = refused(client, request, wc.InvalidRequest)
    assert error.field == "emotion_poses" and "at most one per emotion" in error.details
    request = wc.animate_request(pcm())
    request.emotion_poses.add(emotion="happy", channels=[f"c{i}" for i in range(1000)])
    error = refused(client, request, wc.InvalidRequest)
    assert error.field == "emotion_poses[0]" and "1000 channels" in error.details


def test_pcm_longer_than_the_limit_is_refused_from_its_byte_count(client):
    audio = pb.Audio(pcm=pb.Pcm(samples=bytes(2 * 8000 * 61), sample_rate=8000))  # 61 s of 0s
    error = refused(client, wc.animate_request(audio))
    assert error.field == "audio" and "61.0 s" in error.details
    fast = wc.animate_request(pcm(2.0), fps=1000)  # 2000 frames x 61 channels x 4 layers
    error = refused(client, fast)
    assert error.field == "audio" and "--max-track-values" in error.details


def test_capabilities_show_every_limit(client):
    limits = client.capabilities().limits
    assert limits.max_track_values == 200_000 and limits.max_render_pixels == 50_000_000
    assert limits.max_emotion_keys == 50 and limits.max_layers == 8
    assert limits.max_portrait_pixels == 50_000_000 and limits.max_concurrent == 2
    assert limits.max_audio_seconds == 60


def test_a_busy_server_refuses_before_parsing_the_request():
    """The worker slot is taken before the request is parsed: with the one worker busy, even
    bytes that are not a request at all are refused as busy, at once."""
    with running_server(max_concurrent=1) as s, wc.Client(s.address, timeout=30) as c:
        slow = wc.animate_request(pcm(), engine="slow", options={"seconds": 3})
        events = iter(c.animate(slow))
        assert isinstance(next(events), pb.Progress)
        call = c._channel.unary_stream(
            "/emospeaker.v1.EmoSpeaker/Animate",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as error:
            list(call(b"\xff\xff\xff not a request", timeout=10))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(error.value.trailing_metadata())["emospeaker-busy"] == "1"
        assert time.monotonic() - started < 1
        for _ in events:
            pass


def test_a_big_capabilities_request_is_refused_unparsed(server):
    with grpc.insecure_channel(server.address) as channel:
        call = channel.unary_unary(
            "/emospeaker.v1.EmoSpeaker/GetCapabilities",
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        with pytest.raises(grpc.RpcError) as error:
            call(b"\x0a\x03abc" * 100_000, timeout=10)  # 800 kB of unknown fields
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "no fields" in error.value.details()
        assert pb.Capabilities.FromString(call(b"", timeout=10)).version


# ---------------------------------------------------------------------------------------------
# 2. engine options


def test_a_client_chooses_a_checkpoint_by_name_never_by_path(client):
    track = client.animate_track(pcm(), engine="neural", options={"checkpoint": "small"})
    assert track.provenance["checkpoint"] == "small.pt"
    messages = []
    for path in ("/etc/hostname", "/no/such/file.pt", "../junk"):
        error = refused(client, wc.animate_request(pcm(), engine="neural",
                                                   options={"checkpoint": path}),
                        wc.InvalidRequest)  # fmt: skip
        assert error.field == "options.checkpoint" and "available: " in error.details
        assert "small" in error.details
        messages.append(error.details.replace(repr(path), "PATH"))
    assert len(set(messages)) == 1  # an existing file and a missing one look the same


def test_capabilities_list_the_checkpoint_names_a_client_may_choose(client):
    neural = next(e for e in client.capabilities().engines if e.name == "neural")
    option = next(o for o in neural.options if o.name == "checkpoint")
    assert list(option.choices) == ["emospeaker-synthetic", "junk", "small"]


def test_a_checkpoint_that_cannot_load_gives_one_message_without_its_content(client):
    error = refused(
        client,
        wc.animate_request(pcm(), engine="neural", options={"checkpoint": "junk"}),
        wc.InvalidRequest,
    )
    assert error.field == "options.checkpoint" and "cannot load 'junk.pt'" in error.details
    assert "secret" not in error.details and "line" not in error.details
    assert "/" not in error.details.split("(127.0.0.1")[0]  # no folder


def test_options_a_client_may_not_set_are_refused(client):
    request = wc.animate_request(pcm(), engine="default", options={"no_such": "1"})
    assert refused(client, request, wc.InvalidRequest).field == "options"


def test_the_model_cache_is_bounded_by_count_and_bytes():
    cache = ModelCache(count=2, limit=100)
    for key, size in (("a", 10), ("b", 10), ("c", 10)):
        cache.put(key, key.upper(), size)
    assert len(cache) == 2 and cache.get("a") is None and cache.get("b") == "B"
    cache.put("d", "D", 95)  # over the bytes: the least recently used go first
    assert len(cache) == 1 and cache.get("d") == "D" and cache.bytes == 95


# ---------------------------------------------------------------------------------------------
# 3. tokens only with TLS off loopback


def test_a_token_without_tls_off_loopback_needs_insecure_which_warns():
    config = ServerConfig(host="10.1.2.3", port=0, token="t")
    with pytest.raises(InputError, match="clear text") as error:
        check_exposure(config)  # refused before anything binds
    assert "--insecure" in str(error.value) and error.value.field == "tls"
    config.insecure = True
    check_exposure(config)
    assert "clear text" in exposure_warning(config)
    config.token = None
    assert "no token" in exposure_warning(config)
    assert exposure_warning(ServerConfig(host="127.0.0.1", token="t")) is None


# ---------------------------------------------------------------------------------------------
# 5. failures keep nothing


def test_a_failed_call_keeps_none_of_its_memory(monkeypatch):
    """Without the cyclic GC, a failure's Future, exception and traceback would hold the
    engine's frames (and their 16 MB) until some later collection."""
    monkeypatch.setitem(ENGINES, "hoard", "grpc_support:HoardingEngine")
    HoardingEngine.kept.clear()
    with running_server(max_concurrent=1) as s, wc.Client(s.address, timeout=30) as c:
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                with pytest.raises(wc.InvalidRequest, match="after allocating"):
                    c.animate_track(wc.animate_request(pcm(0.3), engine="hoard"))
            deadline = time.monotonic() + 5
            while any(ref() is not None for ref in HoardingEngine.kept):
                assert time.monotonic() < deadline, "a failed call kept its memory"
                time.sleep(0.05)
        finally:
            gc.enable()
    assert len(HoardingEngine.kept) == 3


# ---------------------------------------------------------------------------------------------
# 8. the smaller ones


def test_the_portrait_is_checked_before_any_engine_work(client):
    slow = wc.animate_request(pcm(), engine="slow", options={"seconds": 20})
    request = wc.render_request("flat", animate=slow, portrait=b"not an image at all")
    error = refused(client, request, wc.InvalidRequest)
    assert error.field == "portrait" and "not an image" in error.details


def test_huge_samples_are_blamed_on_the_audio_not_the_engine(client):
    samples = np.frombuffer(speech_pcm(0.5), "<i2").astype(np.float32) / 32768
    samples[100] = 1e30  # finite, so no NaN check catches it; the network would overflow
    audio = wc.audio_pcm(samples.astype("<f4").tobytes(), 16000, float32=True)
    error = refused(client, wc.animate_request(audio, engine="neural"), wc.InvalidRequest)
    assert error.field == "audio" and "1e+30" in error.details
    with pytest.raises(InputError) as local:
        audio_from_pcm(samples, 16000)
    assert local.value.field == "audio"


@pytest.mark.parametrize(
    "given, expected",
    [
        ("30.0003", Fraction(30)),  # what OpenCV reports for some mp4s
        (30.0003, Fraction(30)),
        ("29.97", Fraction(30000, 1001)),
        ("59.94", Fraction(60000, 1001)),
        ("12.5", Fraction(25, 2)),
        ((300003 * 2**40 + 1, 10000 * 2**40), Fraction(30)),  # too fine for a video file
        ("24000/1001", Fraction(24000, 1001)),
    ],
)
def test_fps_snaps_to_the_nearest_sensible_rate(given, expected):
    assert parse_fps(given) == expected
    if not isinstance(given, tuple):
        rational = wc.rational(given)
        assert Fraction(rational.num, rational.den) == expected


def test_a_too_fine_wire_fps_is_snapped_by_the_server(client):
    request = wc.animate_request(pcm(), fps=pb.Rational(num=300003 * 2**33 + 1, den=10000 * 2**33))
    track = client.animate_track(request)
    assert track.fps == (30, 1) and track.frames == 15


def test_cli_fps_and_output_extension(run_cli, tmp_path):
    out = tmp_path / "x.json"
    run_cli("animate", SAMPLE_AUDIO, "--fps", "30.0003", "-q", "-o", out)
    assert load_track(out).fps == 30
    proc = run_cli("preview", SAMPLE_AUDIO, "-o", tmp_path / "x.avi", "-q", check=False)
    assert proc.returncode == 2 and "x.avi" in proc.stderr
    assert ".mp4, .m4v, .mov, .mkv" in proc.stderr
    assert not list(tmp_path.glob("x.avi*"))
    remote = run_cli("render", SAMPLE_AUDIO, "--server", "127.0.0.1:9", "-o", tmp_path / "x.mkv",
                     "-q", check=False)  # fmt: skip
    assert (
        remote.returncode == 2 and "use one of .mp4, .m4v (the server sends mp4)" in remote.stderr
    )


@pytest.mark.parametrize(
    "suffix, container", [(".mp4", "mp4"), (".mov", "mov"), (".mkv", "matroska")]
)
def test_the_video_container_follows_the_extension(tmp_path, suffix, container):
    frames = [np.full((16, 16, 3), 100 * i, np.uint8) for i in range(3)]
    path = write_video(tmp_path / f"x{suffix}", frames, Fraction(25))
    with av.open(str(path)) as video:
        assert container in video.format.name.split(",")
        assert video.streams.video[0].frames in (0, 3)


def test_the_server_still_serves_after_all_this(client):
    assert client.animate_track(wc.animate_request(pcm(), emotion={"happy": 1})).frames == 15
    assert len(EMOTIONS) == 8


def test_the_sweep_trusts_a_folders_lock_over_its_process_id(tmp_path):
    """Servers in other containers sharing /tmp have process ids this one cannot see: a
    folder whose lock is held is in use, whatever the id in its name says."""
    import os

    from emospeaker.server.app import WORKDIR_PREFIX, lock_workdir, sweep_stale_workdirs

    live = tmp_path / f"{WORKDIR_PREFIX}999999999-abc"  # an id no process here has
    live.mkdir()
    fd = lock_workdir(live)
    try:
        assert sweep_stale_workdirs(tmp_path) == [] and live.is_dir()
    finally:
        os.close(fd)  # its server is gone: the kernel drops the lock
    assert sweep_stale_workdirs(tmp_path) == [live] and not live.exists()
