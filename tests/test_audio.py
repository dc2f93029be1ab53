"""Audio in: common containers, any rate or channel count -> mono 16 kHz; clear errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from emospeaker.audio import SAMPLE_RATE, audio_from_pcm, load_audio
from emospeaker.errors import InputError, LimitError

RATE = 44100
SECONDS = 1.5


def tone(rate: int = RATE, channels: int = 2, seconds: float = SECONDS) -> np.ndarray:
    """A 220 Hz tone with a different level per channel, [channels, samples] float32."""
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * 220 * t)
    return np.stack([mono * (1 - 0.3 * c) for c in range(channels)]).astype(np.float32)


def encode(
    path: Path, codec: str, rate: int = RATE, channels: int = 2, video: bool = False
) -> Path:
    """Write the tone with PyAV into `path`'s container (optionally with a video stream)."""
    pcm = tone(rate, channels)
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(path), "w") as out:
        picture = None
        if video:
            picture = out.add_stream("libx264", rate=25)
            picture.width, picture.height, picture.pix_fmt = 64, 64, "yuv420p"
        sound = out.add_stream(codec, rate=rate, options={"strict": "experimental"})
        sound.layout = layout
        fmt = sound.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(pcm, format="fltp", layout=layout)
        frame.sample_rate = rate
        if fmt != "fltp":
            frame = av.AudioResampler(format=fmt, layout=layout, rate=rate).resample(frame)[0]
        if picture is not None:
            for i in range(int(SECONDS * 25)):
                image = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i, np.uint8), "rgb24")
                out.mux(picture.encode(image))
            out.mux(picture.encode(None))
        frame.pts = 0
        out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


@pytest.mark.parametrize(
    "name, codec",
    [
        ("a.wav", "pcm_s16le"),
        ("a.flac", "flac"),
        ("a.ogg", "vorbis"),
        ("a.mp3", "libmp3lame"),
        ("a.m4a", "aac"),
        ("a.opus", "libopus"),
    ],
)
def test_common_formats_decode_to_mono_16k(tmp_path, name, codec):
    rate = 48000 if codec == "libopus" else RATE
    audio = load_audio(encode(tmp_path / name, codec, rate=rate))
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.duration == pytest.approx(SECONDS, abs=0.08)  # codec padding
    spectrum = np.abs(np.fft.rfft(audio.samples[:SAMPLE_RATE]))
    assert np.argmax(spectrum) == pytest.approx(220, abs=2)  # 1 s window: 1 Hz per bin
    middle = audio.samples[SAMPLE_RATE // 4 : SAMPLE_RATE]
    rms = np.sqrt(np.mean(middle**2))
    assert rms == pytest.approx(0.425 / np.sqrt(2), rel=0.1)  # channels averaged, not summed


def test_audio_track_of_a_video(tmp_path):
    audio = load_audio(encode(tmp_path / "clip.mp4", "aac", video=True))
    assert audio.duration == pytest.approx(SECONDS, abs=0.08)


def test_bytes_and_file_give_the_same_samples(tmp_path):
    path = encode(tmp_path / "a.flac", "flac", channels=1)
    from_file, from_bytes = load_audio(path), load_audio(path.read_bytes(), name="a.flac")
    assert np.array_equal(from_file.samples, from_bytes.samples)
    assert from_file.sha256 == from_bytes.sha256


def test_raw_pcm_any_rate_and_channels():
    stereo = tone(22050, 2).T  # [samples, channels]
    audio = audio_from_pcm(stereo, 22050)
    assert audio.duration == pytest.approx(SECONDS, abs=0.01)
    ints = (tone(16000, 1)[0] * 32767).astype(np.int16)
    assert np.allclose(audio_from_pcm(ints, 16000).samples, tone(16000, 1)[0], atol=1e-4)


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.wav.*empty"):
        load_audio(tmp_path / "empty.wav")


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such audio file"):
        load_audio(tmp_path / "nope.wav")


def test_garbage_bytes_name_the_file(tmp_path):
    path = tmp_path / "garbage.mp3"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputError, match=r"garbage\.mp3: cannot decode"):
        load_audio(path)


def test_silent_audio(tmp_path):
    with pytest.raises(InputError, match="silent"):
        audio_from_pcm(np.zeros(16000, np.float32), 16000, name="quiet.wav")


def test_video_without_sound(tmp_path):
    path = tmp_path / "mute.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            out.mux(
                stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), "rgb24"))
            )
        out.mux(stream.encode(None))
    with pytest.raises(InputError, match="no audio stream"):
        load_audio(path)


def test_longer_than_limit_stops_early(tmp_path):
    path = encode(tmp_path / "long.wav", "pcm_s16le")
    with pytest.raises(LimitError, match=r"long\.wav.*limit of 1 s"):
        load_audio(path, max_seconds=1)
    with pytest.raises(LimitError):
        audio_from_pcm(tone(16000, 1)[0], 16000, max_seconds=1)


def test_bad_sample_rate_names_the_field():
    with pytest.raises(InputError) as err:
        audio_from_pcm(np.ones(100, np.float32), 0)
    assert err.value.field == "sample_rate"
