"""Random and malformed requests: the server answers each with a status and never fails,
hangs or stops serving. Headers declare more than they carry (huge frame counts, thousands of
channels, layers and emotion keys, odd rates), which the work budget must refuse from the
header. (scripts/fuzz_grpc.py sends many more and watches memory.)"""

from __future__ import annotations

import io
import wave

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emospeaker.channels import ALL_CHANNELS
from emospeaker.emotion import EMOTIONS
from emospeaker.wire import client as wc
from emospeaker.wire import emospeaker_pb2 as pb
from grpc_support import extra_components, running_server, speech_pcm

ANSWERS = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "UNIMPLEMENTED"}
INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
FLOAT32 = st.floats(allow_nan=True, allow_infinity=True, width=32)
NAMES = ("jawOpen", "mouthClose", "headYaw", "bogus")
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def numbered(prefix: str, counts: st.SearchStrategy) -> st.SearchStrategy:
    return counts.map(lambda n: [f"{prefix}{i}" for i in range(n)])


# what a header declares without carrying it: the work budget must refuse it from the header
HUGE_COUNTS = st.one_of(st.integers(-2, 40), st.sampled_from([900_001, 60_000, 2**31 - 1]))
WILD_CHANNELS = st.one_of(
    st.lists(st.sampled_from(NAMES)),
    numbered("c", st.sampled_from([60, 1000, 5000])),
    st.just(list(ALL_CHANNELS) * 2),
)
WILD_LAYERS = st.one_of(
    st.lists(st.text(max_size=4), max_size=3), numbered("l", st.sampled_from([8, 9, 64, 2000]))
)
ODD_RATES = st.one_of(
    st.tuples(st.integers(-1, 60), st.just(1)),
    st.sampled_from([(1000, 1), (1, 1001), (2**62, 3), (300003 * 2**33 + 1, 10000 * 2**33)]),
    st.tuples(INT64, INT64),
)


def mostly(valid: st.SearchStrategy, wild: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` four times in five, so most requests get past one check into the next."""
    return st.integers(0, 4).flatmap(lambda i: wild if i == 0 else valid)


def wav_bytes(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(speech_pcm(seconds))
    return out.getvalue()


WAV = wav_bytes(0.3)
WILD_AUDIO = ["none", "bytes", "cut wav", "random pcm"]
PCM = speech_pcm(0.3)


@st.composite
def audio(draw) -> pb.Audio | None:
    kind = draw(mostly(st.sampled_from(["wav", "pcm"]), st.sampled_from(WILD_AUDIO)))
    name = draw(st.text(max_size=8))
    if kind == "none":
        return None
    if kind == "bytes":
        return pb.Audio(encoded=draw(st.binary(max_size=600)), name=name)
    if kind in ("wav", "cut wav"):
        data = WAV if kind == "wav" else WAV[: draw(st.integers(0, len(WAV)))]
        return pb.Audio(encoded=data, name=name)
    samples = PCM if kind == "pcm" else draw(st.binary(max_size=3000))
    pcm = pb.Pcm(
        samples=samples,
        sample_rate=draw(mostly(st.sampled_from([8000, 16000, 44100]), INT32)),
        channels=draw(mostly(st.just(1), st.integers(-2, 70))),
        format=draw(mostly(st.just(0), st.integers(0, 3))),
    )
    return pb.Audio(pcm=pcm, name=name)


@st.composite
def emotion_key(draw) -> pb.EmotionKey:
    names = mostly(st.sampled_from(EMOTIONS), st.text(max_size=10))
    key = pb.EmotionKey(
        intensities=draw(st.dictionaries(names, mostly(st.floats(0, 4), FLOATS), max_size=4)),
        interpolation=draw(mostly(st.sampled_from(["", "linear", "constant"]), st.text())),
    )
    unit = draw(mostly(st.sampled_from(["seconds", "frame"]), st.none()))
    if unit:
        setattr(key, unit, draw(mostly(st.floats(-10, 100), FLOATS)))
    return key


@st.composite
def animate_request(draw) -> pb.AnimateRequest:
    options = st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2)
    request = pb.AnimateRequest(
        start_frame=draw(mostly(st.integers(-1000, 1000), INT64)),
        transcript=draw(st.text(max_size=40)),
        engine=draw(mostly(st.sampled_from(["", "default"]), st.sampled_from(["broken", "x"]))),
        options=draw(mostly(st.just({}), options)),
        seed=draw(mostly(st.integers(0, 1000), INT64)),
        frames_per_chunk=draw(mostly(st.integers(0, 50), INT32)),
    )
    sound = draw(audio())
    if sound is not None:
        request.audio.CopyFrom(sound)
    if draw(st.booleans()):
        fps = mostly(st.tuples(st.integers(1, 120), st.integers(0, 2)), st.tuples(INT64, INT64))
        num, den = draw(fps)
        request.fps.CopyFrom(pb.Rational(num=num, den=den))
    emotion = draw(st.sampled_from(["none", "keys", "many keys", "curves"]))
    if emotion == "keys":
        request.keys.keys.extend(draw(st.lists(emotion_key(), max_size=4)))
    elif emotion == "many keys":  # around the server's limit of 100
        for i in range(draw(st.sampled_from([99, 100, 101, 3000]))):
            request.keys.keys.add(seconds=i * 0.01).intensities["happy"] = 0.5
    elif emotion == "curves":
        frames = draw(mostly(st.integers(1, 12), st.integers(-3, 40)))
        request.curves.frames = frames
        size = 8 * max(frames, 0)
        exact = st.lists(st.floats(0, 4, width=32), min_size=size, max_size=size)
        values = mostly(exact, st.lists(FLOAT32, max_size=120))
        request.curves.values.extend(draw(values))
    return request


@st.composite
def render_request(draw) -> pb.RenderRequest:
    request = pb.RenderRequest(
        renderer=draw(mostly(st.just("flat"), st.sampled_from(["missing", "sketch", ""]))),
        portrait=draw(mostly(st.just(b""), st.binary(max_size=100))),
        size=draw(mostly(st.sampled_from([0, 256]), st.sampled_from([300, -1]))),
    )
    if draw(st.booleans()):
        request.face_index = draw(INT32)
    if draw(st.booleans()):
        request.animate.CopyFrom(draw(animate_request()))
    else:
        num, den = draw(mostly(st.tuples(st.just(25), st.just(1)), ODD_RATES))
        header = pb.TrackHeader(
            channels=draw(mostly(st.just(ALL_CHANNELS), WILD_CHANNELS)),
            fps=pb.Rational(num=num, den=den),
            frames=draw(mostly(st.integers(1, 20), HUGE_COUNTS)),
            layers=draw(mostly(st.just(["lips"]), WILD_LAYERS)),
        )
        width = draw(st.integers(0, 3))
        frames = draw(mostly(st.integers(0, min(max(header.frames, 0), 40)), st.integers(-2, 40)))
        chunk = pb.LayerChunk(
            layer=draw(mostly(st.just("lips"), st.text(max_size=4))),
            first_frame=draw(mostly(st.just(0), st.integers(-2, 40))),
            frames=frames,
            channels=draw(st.lists(st.sampled_from(NAMES), min_size=width, max_size=width)),
            values=draw(mostly(st.lists(st.floats(0, 1, width=32), min_size=max(0, frames * width),
                                        max_size=max(0, frames * width)),
                               st.lists(FLOAT32, max_size=60))),
        )  # fmt: skip
        request.track.CopyFrom(pb.Track(header=header, layers=[chunk]))
        request.track.emotion.extend(draw(st.lists(FLOAT32, max_size=20)))
    return request


@pytest.fixture(scope="module")
def client():
    with extra_components():
        limits = dict(max_audio_seconds=2, max_message_bytes=200_000, max_emotion_keys=100)
        with running_server(max_concurrent=4, max_track_values=200_000, **limits) as s:
            with wc.Client(s.address, timeout=20) as c:
                yield c


def outcome(call) -> str:
    try:
        call()
        return "OK"
    except wc.ClientError as exc:
        assert exc.code in ANSWERS, exc
        return exc.code


@SETTINGS
@given(request=animate_request())
def test_random_animate_requests_get_a_status(client, request):
    def call():
        track = client.animate_track(request)
        assert track.frames >= 1 and len(track.values) == track.frames * len(track.channels)

    outcome(call)


@SETTINGS
@given(request=render_request())
def test_random_render_requests_get_a_status(client, request):
    outcome(lambda: client.render_to(request, None))


@SETTINGS
@given(data=st.binary(max_size=400), method=st.sampled_from(["Animate", "Render"]))
def test_malformed_bytes_get_a_status(client, data, method):
    channel = client._channel
    call = channel.unary_stream(
        f"/emospeaker.v1.EmoSpeaker/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    try:
        list(call(data, timeout=20))
    except grpc.RpcError as exc:
        assert exc.code().name in ANSWERS, exc


def test_still_serving_after_the_fuzz(client):
    track = client.animate_track(wc.audio_pcm(PCM, 16000), emotion={"happy": 1})
    assert track.frames == 9
