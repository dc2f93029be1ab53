"""Phones and their times from speech with pocketsphinx (its en-us model ships in the wheel).

Two ways, both returning ARPAbet PhoneSegments (see `phones`) in seconds:

- `recognize_phones(samples)`: allphone decoding (a free loop over the model's phones): no
  transcript needed, any speech.
- `align_phones(samples, words)`: forced alignment to a transcript: the cmudict
  pronunciation of each word, aligned to the audio (two passes: words, then phones).
  Raises AlignmentError when the words are unknown or cannot be fitted to the audio.

Decoders are kept per process (building one costs 20-150 ms) and reused by one thread at a
time (a lock; pocketsphinx holds the GIL while decoding anyway, so parallelism comes from
processes, see `pool`, not threads).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import EmoSpeakerError
from .phones import PHONES, SILENCE, PhoneSegment

FRAME_RATE = 100  # pocketsphinx frames per second (also with frame downsampling)
_lock = threading.Lock()
# The en-us model's front end (its feat.params) but without noise removal: the noise
# estimate is state that pocketsphinx carries from one utterance to the next, so with it the
# phones of a chunk depended on which chunks the same process had decoded before (and a
# fresh estimate per chunk lowered the real-clip lip-sync r from 0.435 to 0.413).
_FRONT_END = dict(
    featparams=os.devnull,
    lowerf=130,
    upperf=6800,
    nfilt=25,
    transform="dct",
    lifter=22,
    feat="1s_c_d_dd",
    svspec="0-12/13-25/26-38",
    agc="none",
    cmn="batch",
    varnorm=False,
    remove_noise=False,
)


class AlignmentError(EmoSpeakerError):
    """The transcript could not be aligned to the audio."""


@dataclass(frozen=True)
class DecoderSettings:
    """Speed/accuracy settings for allphone recognition.

    `downsample` scores every n-th frame (2 saves a third of the time but costs accuracy),
    `topn` is the number of Gaussians kept per codebook (1 is as accurate as 4 for phones
    and cheaper), `lm_weight` weighs the phone loop's (uniform) probabilities against the
    acoustics, in effect a phone insertion penalty.

    The phone loop is uniform on purpose: pocketsphinx's en-us phone trigram model cost
    45% of the decoding time and, at the weight that suits phones (1-2), gained nothing.
    Measured with the lip-sync benchmark's measures (real clips r, synthetic speech r):
    STANDARD 0.46 and 0.82; FAST 0.45 and 0.76; the phone trigram model at weight 1
    0.45 and 0.81; pocketsphinx's defaults (trigram at 6.5, topn 4) 0.38 and 0.67.
    """

    downsample: int = 1
    topn: int = 1
    lm_weight: float = 1.0


STANDARD = DecoderSettings()
FAST = DecoderSettings(downsample=2)


def model_dir() -> str:
    from pocketsphinx import get_model_path

    return os.path.join(get_model_path(), "en-us")


def _dictionary_path() -> str:
    """The pronunciation dictionary the aligner uses (cmudict)."""
    return os.path.join(model_dir(), "cmudict-en-us.dict")


@lru_cache(maxsize=1)
def _dictionary_words() -> frozenset[str]:
    """The words of the aligner's dictionary, read once (faster and smaller than building the
    aligner): each line is "word PHONES", an alternate pronunciation "word(2) PHONES"."""
    with open(_dictionary_path(), encoding="utf-8") as f:
        return frozenset(re.findall(r"^[^\s(]+", f.read(), re.MULTILINE))


@lru_cache(maxsize=4)
def _allphone_decoder(settings: DecoderSettings) -> object:
    from pocketsphinx import Decoder

    with tempfile.TemporaryDirectory(prefix="emospeaker-") as folder:
        loop = os.path.join(folder, "phones.arpa")  # read once, while the decoder is built
        with open(loop, "w") as out:
            out.write(_uniform_phone_loop())
        return Decoder(
            hmm=os.path.join(model_dir(), "en-us"),
            allphone=loop,
            lm=None,
            dict=None,
            ds=settings.downsample,
            topn=settings.topn,
            lw=settings.lm_weight,
            loglevel="FATAL",
            **_FRONT_END,
        )


def _uniform_phone_loop() -> str:
    """An ARPA unigram model giving every phone (and silence) the same probability."""
    names = [p for p in PHONES if p != SILENCE] + [SILENCE, "<s>", "</s>"]
    logprob = np.log10(1.0 / (len(names) - 2))
    lines = ["\\data\\", f"ngram 1={len(names)}", "", "\\1-grams:"]
    lines += [f"{logprob:.4f} {name}" for name in names]
    return "\n".join(lines + ["", "\\end\\", ""])


@lru_cache(maxsize=1)
def _align_decoder() -> object:
    from pocketsphinx import Decoder

    model = model_dir()
    # pocketsphinx 5.1.1's alignment fails on many utterances with its defaults: bestpath
    # gives phones impossibly short durations (second pass: "failed to reach final state"),
    # and the word-level pass loses the path with LVCSR beams ("does not match the
    # grammar"). Viterbi backtrace and very wide, equal beams align all of the benchmark's
    # synthetic sentences; a linear grammar stays cheap with them.
    return Decoder(
        hmm=os.path.join(model, "en-us"),
        dict=_dictionary_path(),
        lm=None,
        bestpath=False,
        beam=1e-200,
        wbeam=1e-200,
        pbeam=1e-200,
        ds=2,  # 40% faster; boundaries as accurate (median 10 ms from the true labels)
        loglevel="FATAL",
        **_FRONT_END,
    )


def to_pcm16(samples: np.ndarray) -> bytes:
    """16 kHz float samples -> the little-endian int16 bytes pocketsphinx reads."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def recognize_phones(
    samples: np.ndarray, settings: DecoderSettings = STANDARD
) -> list[PhoneSegment]:
    """Phones recognised in 16 kHz mono `samples` (times relative to the first sample)."""
    pcm = to_pcm16(samples)
    with _lock:
        decoder = _allphone_decoder(settings)
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        raw = [(seg.word, seg.start_frame, seg.end_frame + 1) for seg in decoder.seg()]
    return _segments(raw, len(samples) / SAMPLE_RATE)


def transcript_words(text: str) -> list[str]:
    """The words of a transcript as the dictionary spells them (lower case, apostrophes
    kept, other punctuation dropped)."""
    return re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower().replace("\u2019", "'"))


def unknown_words(words: list[str]) -> list[str]:
    """The words that have no pronunciation in the dictionary (read from its file: checking a
    transcript does not build the aligner)."""
    known = _dictionary_words()
    return [w for w in dict.fromkeys(words) if w not in known]


@dataclass(frozen=True)
class Alignment:
    """Aligned phones and how well the words fit the sound: the mean per-frame log score of
    the aligned path relative to the best path at each frame (0 is a perfect fit; correct
    transcripts of festival speech score -1.2e-3 to -1.8e-3, of espeak-ng -3.7e-3 to
    -5.9e-3, of a noisy real recording -3.0e-3; other sentences -5.6e-3 to -8e-3 on synthetic
    speech but only -3.6e-3 to -4e-3 on that recording)."""

    phones: list[PhoneSegment]
    fit: float


def align_phones(samples: np.ndarray, words: list[str]) -> Alignment:
    """Phones of `words` force-aligned to `samples`; AlignmentError when that fails."""
    if not words:
        raise AlignmentError("the transcript has no words")
    pcm = to_pcm16(samples)
    with _lock:
        decoder = _align_decoder()
        # the aligner is built here anyway: ask it rather than also reading the word list
        missing = [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]
        if missing:
            raise AlignmentError(f"words not in the dictionary: {', '.join(missing[:8])}")
        try:
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            if decoder.hyp() is None:
                raise AlignmentError("the words do not fit the audio")
            fit = _fit(decoder.seg())
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
    return Alignment(_segments(raw, len(samples) / SAMPLE_RATE), fit)


def _fit(segments: object) -> float:
    """Mean per-frame log acoustic score of a first-pass word segmentation (pocketsphinx
    reports each segment's score relative to the best path, exponentiated)."""
    total, frames = 0.0, 0
    for seg in segments:
        total += float(np.log(max(seg.ascore, 1e-300)))
        frames += seg.end_frame - seg.start_frame + 1
    return total / max(frames, 1)


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
