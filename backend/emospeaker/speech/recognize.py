"""Phones and their times from speech with pocketsphinx (its en-us model ships in the wheel).

Two ways, both returning ARPAbet PhoneSegments (see `phones`) in seconds:

- `recognize_phones(samples)`: allphone decoding with the en-us phone language model: no
  transcript needed, any speech.
- `align_phones(samples, words)`: forced alignment to a transcript: the cmudict
  pronunciation of each word, aligned to the audio (two passes: words, then phones).
  Raises AlignmentError when the words are unknown or cannot be fitted to the audio.

Decoders are kept per process (building one costs 20-150 ms) and reused; pocketsphinx holds
the GIL while decoding, so parallelism comes from processes (see `pool`), not threads.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import EmoSpeakerError
from .phones import SILENCE, PhoneSegment

FRAME_RATE = 100  # pocketsphinx frames per second (also with frame downsampling)


class AlignmentError(EmoSpeakerError):
    """The transcript could not be aligned to the audio."""


@dataclass(frozen=True)
class DecoderSettings:
    """Speed/accuracy settings for allphone recognition.

    `downsample` scores every n-th frame (2 halves the acoustic scoring), `topn` is the number
    of Gaussians kept per codebook, `lm_weight` the phone language model's weight (the
    default 6.5 is tuned for words; 2 recovers far more phones, measured on synthetic
    speech with exact labels in scripts/bench_lipsync.py).
    """

    downsample: int = 2
    topn: int = 2
    lm_weight: float = 2.0


FAST = DecoderSettings()
ACCURATE = DecoderSettings(downsample=1, topn=4, lm_weight=2.0)


def model_dir() -> str:
    from pocketsphinx import get_model_path

    return os.path.join(get_model_path(), "en-us")


@lru_cache(maxsize=4)
def _allphone_decoder(settings: DecoderSettings) -> object:
    from pocketsphinx import Decoder

    model = model_dir()
    return Decoder(
        hmm=os.path.join(model, "en-us"),
        allphone=os.path.join(model, "en-us-phone.lm.bin"),
        lm=None,
        dict=None,
        ds=settings.downsample,
        topn=settings.topn,
        lw=settings.lm_weight,
        cmn="batch",
        loglevel="ERROR",
    )


@lru_cache(maxsize=1)
def _align_decoder() -> object:
    from pocketsphinx import Decoder

    model = model_dir()
    return Decoder(
        hmm=os.path.join(model, "en-us"),
        dict=os.path.join(model, "cmudict-en-us.dict"),
        lm=None,
        cmn="batch",
        loglevel="ERROR",
    )


def to_pcm16(samples: np.ndarray) -> bytes:
    """16 kHz float samples -> the little-endian int16 bytes pocketsphinx reads."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def recognize_phones(samples: np.ndarray, settings: DecoderSettings = FAST) -> list[PhoneSegment]:
    """Phones recognised in 16 kHz mono `samples` (times relative to the first sample)."""
    decoder = _allphone_decoder(settings)
    decoder.start_utt()
    decoder.process_raw(to_pcm16(samples), full_utt=True)
    decoder.end_utt()
    raw = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in decoder.seg()]
    return _segments(raw, len(samples) / SAMPLE_RATE)


def transcript_words(text: str) -> list[str]:
    """The words of a transcript as the dictionary spells them (lower case, apostrophes
    kept, other punctuation dropped)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower().replace("\u2019", "'"))


def unknown_words(words: list[str]) -> list[str]:
    """The words that have no pronunciation in the dictionary."""
    decoder = _align_decoder()
    return [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]


def align_phones(samples: np.ndarray, words: list[str]) -> list[PhoneSegment]:
    """Phones of `words` force-aligned to `samples`; AlignmentError when that fails."""
    if not words:
        raise AlignmentError("the transcript has no words")
    missing = unknown_words(words)
    if missing:
        raise AlignmentError(f"words not in the dictionary: {', '.join(missing[:8])}")
    decoder = _align_decoder()
    pcm = to_pcm16(samples)
    try:
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        if decoder.hyp() is None:
            raise AlignmentError("the words do not fit the audio")
        decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
        # never call hyp() in this state: pocketsphinx 5.1.1 crashes there
        raw = [
            (phone.name, phone.start, phone.start + phone.duration)
            for word in alignment
            for phone in word
        ]
    except RuntimeError as exc:
        raise AlignmentError(str(exc)) from None
    return _segments(raw, len(samples) / SAMPLE_RATE)


def _segments(raw: list[tuple[str, int, int]], duration: float) -> list[PhoneSegment]:
    """Decoder output (name, first frame, end frame) -> contiguous ARPAbet segments that tile
    [0, duration]; noise and filler units become silence."""
    out: list[PhoneSegment] = []
    cursor = 0.0
    for name, _first, end in raw:
        stop = min(end / FRAME_RATE, duration)
        if stop <= cursor:
            continue
        phone = name if name.isalpha() and name.isupper() and name != "SIL" else SILENCE
        if name == "+SPN+" and out:  # speech noise: the phone before goes on
            out[-1] = PhoneSegment(out[-1].phone, out[-1].start, stop)
        elif out and phone == out[-1].phone == SILENCE:
            out[-1] = PhoneSegment(SILENCE, out[-1].start, stop)
        else:
            out.append(PhoneSegment(phone, cursor, stop))
        cursor = stop
    if cursor < duration:
        if out and out[-1].phone == SILENCE:
            out[-1] = PhoneSegment(SILENCE, out[-1].start, duration)
        else:
            out.append(PhoneSegment(SILENCE, cursor, duration))
    return out
