"""Audio in: any common container (wav, flac, ogg, mp3, m4a, a video's sound) -> mono 16 kHz.

Decoding and resampling go through PyAV (FFmpeg), so every format FFmpeg knows works and
there is one code path for files, in-memory bytes and raw PCM from the wire.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .errors import InputError, LimitError

SAMPLE_RATE = 16000
SILENCE_PEAK = 1e-4  # full scale = 1.0; below this everywhere the file holds no speech
DEFAULT_MAX_SECONDS = 15 * 60
MAX_PEAK = 64.0  # float samples beyond this are not audio (clipping overshoots stay far below)


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples at SAMPLE_RATE, with where they came from."""

    samples: np.ndarray
    source: str = "<memory>"

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def sha256(self) -> str:
        """Checksum of the decoded samples: the same sound gives the same value whichever
        container or transport it arrived in."""
        return hashlib.sha256(self.samples.tobytes()).hexdigest()


def load_audio(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
) -> Audio:
    """Decode a file path or the bytes of a file into mono 16 kHz float32.

    Raises InputError naming the file for empty, unreadable and silent input, and
    LimitError when it is longer than `max_seconds`.
    """
    if isinstance(source, bytes):
        label = name or "<audio bytes>"
        if not source:
            raise InputError(f"{label}: audio is empty (0 bytes)", field="audio")
        stream: io.BytesIO | str = io.BytesIO(source)
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise InputError(f"{label}: no such audio file", field="audio")
        if path.stat().st_size == 0:
            raise InputError(f"{label}: audio file is empty (0 bytes)", field="audio")
        stream = str(path)
    samples = _decode(stream, label, max_seconds)
    return _checked(Audio(samples, label), max_seconds)


def audio_from_pcm(
    samples: np.ndarray,
    rate: int,
    *,
    name: str = "<pcm>",
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
) -> Audio:
    """Wrap raw PCM (float in [-1, 1] or int16; [n] or [n, channels]) as 16 kHz mono Audio."""
    if not 1000 <= rate <= 384000:
        raise InputError(
            f"{name}: sample rate {rate} Hz is outside 1000..384000", field="sample_rate"
        )
    pcm = np.asarray(samples)
    if pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768.0
    pcm = pcm.astype(np.float32, copy=False)
    if pcm.ndim == 2:
        pcm = pcm.mean(axis=1)
    if pcm.size == 0:
        raise InputError(f"{name}: audio is empty (0 samples)", field="audio")
    if max_seconds is not None and pcm.size / rate > max_seconds:
        _too_long(name, pcm.size / rate, max_seconds)
    if rate != SAMPLE_RATE:
        pcm = _resample(pcm, rate)
    return _checked(Audio(np.ascontiguousarray(pcm), name), max_seconds)


def _decode(stream: io.BytesIO | str, label: str, max_seconds: float | None) -> np.ndarray:
    # Keep the channel layout and average the channels ourselves: FFmpeg's downmix sums
    # them at -3 dB, which makes identical channels 41% louder.
    resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    decoded = 0
    try:
        with av.open(stream, mode="r") as container:
            if not container.streams.audio:
                raise InputError(f"{label}: contains no audio stream", field="audio")
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
                    decoded += out.samples
                if max_seconds is not None and decoded > max_seconds * SAMPLE_RATE:
                    _too_long(label, None, max_seconds)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"{label}: cannot decode audio ({exc})", field="audio") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _resample(pcm: np.ndarray, rate: int) -> np.ndarray:
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    outs = resampler.resample(frame) + resampler.resample(None)
    if not outs:  # too few samples to make even one at 16 kHz; _checked reports it empty
        return np.zeros(0, np.float32)
    return np.concatenate([o.to_ndarray().reshape(-1) for o in outs]).astype(np.float32)


def _checked(audio: Audio, max_seconds: float | None) -> Audio:
    if audio.samples.size == 0:
        raise InputError(f"{audio.source}: audio is empty (no samples decoded)", field="audio")
    if max_seconds is not None and audio.duration > max_seconds:
        _too_long(audio.source, audio.duration, max_seconds)
    if not np.isfinite(audio.samples).all():
        raise InputError(f"{audio.source}: audio contains NaN or infinite samples", field="audio")
    peak = float(np.max(np.abs(audio.samples)))
    if peak > MAX_PEAK:  # not audio in [-1, 1]: engines would overflow into NaN
        raise InputError(
            f"{audio.source}: samples reach {peak:.3g}; audio must lie in [-1, 1] (float PCM) "
            "or be integer PCM",
            field="audio",
        )
    if peak < SILENCE_PEAK:
        raise InputError(
            f"{audio.source}: audio is silent (peak below {SILENCE_PEAK})", field="audio"
        )
    return audio


def _too_long(label: str, seconds: float | None, limit: float) -> None:
    length = f" ({seconds:.1f} s)" if seconds is not None else ""
    raise LimitError(
        f"{label}: audio is longer{length} than the limit of {limit:g} s", field="audio"
    )


def padded_slice(samples: np.ndarray, first: int, count: int) -> np.ndarray:
    """samples[first : first + count] as float32, with silence where that runs off either end
    (a network's audio context at the start and end of a line)."""
    out = np.zeros(count, np.float32)
    lo, hi = max(first, 0), min(first + count, len(samples))
    if hi > lo:
        out[lo - first : hi - first] = samples[lo:hi]
    return out
