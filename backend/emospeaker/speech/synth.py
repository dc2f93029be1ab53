"""Synthesised speech with exact phone labels: the project's own lip-sync ground truth.

`synthesize(text, voice)` speaks `text` with one of Debian's synthesisers (festival voices or
espeak-ng voices and variants) and returns the audio at 16 kHz with the phones (ARPAbet, see
`phones`) and words that the synthesiser actually produced, with start and end times in
seconds. Prosody can be varied per call (rate, pitch, pitch range, volume), so a corpus
generator can speak the same text calmly, sadly or excitedly.

    utt = synthesize("Bring me a big bowl.", "cmu_us_slt_arctic_hts", rate=1.2, pitch=1.1)
    utt.audio, utt.phones[3].phone, utt.phones[3].start, utt.words[0].text
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..audio import Audio, audio_from_pcm
from ..errors import InputError
from . import espeak, festival
from .phones import PhoneSegment, Word

ALL_CONTROLS = ("rate", "pitch", "pitch_range")


@dataclass(frozen=True)
class Voice:
    """A synthesiser voice and the prosody it can vary (`controls`; volume always works)."""

    name: str
    backend: str  # "festival-hts" | "festival-diphone" | "espeak"
    ident: str  # the synthesiser's own name for it
    sex: str  # "female" | "male"
    description: str
    controls: tuple[str, ...] = ALL_CONTROLS


def _espeak(ident: str, sex: str, description: str) -> Voice:
    return Voice(ident, "espeak", ident, sex, f"espeak-ng {description}")


VOICES: dict[str, Voice] = {
    v.name: v
    for v in (
        # festival's HTS engine honours only the speaking rate among its prosody options
        Voice("cmu_us_slt_arctic_hts", "festival-hts", "cmu_us_slt_arctic_hts", "female",
              "festival HTS, US English (festvox-us-slt-hts)", controls=("rate",)),
        Voice("kal_diphone", "festival-diphone", "kal_diphone", "male",
              "festival diphone, US English (festvox-kallpc16k)"),
        _espeak("en-us", "male", "US English"),
        _espeak("en-us+f1", "female", "US English, female variant f1"),
        _espeak("en-us+belinda", "female", "US English, female variant belinda"),
        _espeak("en-gb-x-rp+m3", "male", "British RP, male variant m3"),
        _espeak("en-gb-scotland+m4", "male", "Scottish English, male variant m4"),
        _espeak("en-029+f1", "female", "Caribbean English, female variant f1"),
    )
}  # fmt: skip
# espeak-ng variants with echo or breath noise (f2-f5, m2) fill the stop closures with sound,
# so their stop timings cannot be recovered exactly: they are left out on purpose.
DEFAULT_VOICE = "cmu_us_slt_arctic_hts"
LIMITS = {"rate": (0.5, 2.0), "pitch": (0.6, 1.6), "pitch_range": (0.0, 2.0), "volume": (0.05, 2.0)}


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech and what was said when (phones tile [0, duration] exactly)."""

    text: str
    voice: str
    audio: Audio
    phones: tuple[PhoneSegment, ...]
    words: tuple[Word, ...]

    @property
    def duration(self) -> float:
        return self.audio.duration


def available_voices() -> list[str]:
    """The voices whose synthesiser is installed on this machine."""
    has_espeak = espeak.available()
    return [
        v.name
        for v in VOICES.values()
        if (v.backend == "espeak" and has_espeak)
        or (v.backend.startswith("festival") and festival.available(v.ident))
    ]


def synthesize(
    text: str,
    voice: str = DEFAULT_VOICE,
    *,
    rate: float = 1.0,
    pitch: float = 1.0,
    pitch_range: float = 1.0,
    volume: float = 1.0,
) -> Utterance:
    """Speak `text` with `voice` (a key of VOICES) and return audio + exact phone labels.

    rate: speaking-rate factor (1 = the voice's own); pitch: factor on the mean F0;
    pitch_range: factor on F0 excursions; volume: gain on the samples (clipped to full
    scale). A voice that cannot vary one of them (see Voice.controls) rejects a value
    other than 1 rather than ignoring it.
    """
    spec = VOICES.get(voice)
    if spec is None:
        raise InputError(f"unknown voice {voice!r}; use one of: {', '.join(VOICES)}", field="voice")
    values = {"rate": rate, "pitch": pitch, "pitch_range": pitch_range, "volume": volume}
    for name, value in values.items():
        low, high = LIMITS[name]
        if not (math.isfinite(value) and low <= value <= high):
            raise InputError(f"{name}={value} must lie in [{low}, {high}]", field=name)
        if name in ALL_CONTROLS and name not in spec.controls and value != 1.0:
            raise InputError(
                f"voice {voice} cannot vary {name} (it can vary: {', '.join(spec.controls)})",
                field=name,
            )
    clean = " ".join(text.split())
    if not clean:
        raise InputError("text to synthesise is empty", field="text")
    if spec.backend.startswith("festival"):
        samples, sample_rate, phones, words = festival.synthesize(
            clean, spec.ident, hts=spec.backend == "festival-hts", rate=rate, pitch=pitch,
            pitch_range=pitch_range,
        )  # fmt: skip
    else:
        samples, sample_rate, phones, words = espeak.synthesize(
            clean, spec.ident, rate=rate, pitch=pitch, pitch_range=pitch_range
        )
    pcm = np.clip(samples.astype(np.float32) / 32768.0 * volume, -1.0, 1.0)
    audio = audio_from_pcm(pcm, sample_rate, name=f"<{voice}: {text[:40]}>")
    return Utterance(clean, voice, audio, tuple(phones), tuple(words))
