"""Festival (Debian's `festival` + festvox voices) as a labelled-speech source.

Festival knows the exact segment (phone) end times of everything it synthesises: they are the
durations its waveform generator was given (diphone voices) or produced (HTS voices, whose
state durations are written back into the Segment relation), so the labels are exact in the
synthesiser's own terms. Acoustically, diphone boundaries fall mid-transition, and the HTS
vocoder can place a closure up to ~40 ms into its stop segment (e.g. "Bob bought": the
closure of the b-b pair sounds inside the second B).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unicodedata
import wave
from pathlib import Path

import numpy as np

from ..errors import EmoSpeakerError
from .phones import SILENCE, PhoneSegment, Word, festival_phone, group_words, merge_silences

TIMEOUT_SECONDS = 120

# Scheme run after the voice is selected: {rate}, {pitch}, {range} are numbers.
_DIPHONE_PROSODY = """
(Parameter.set 'Duration_Stretch (/ (Parameter.get 'Duration_Stretch) {rate}))
(set! int_lr_params
  (list (list 'target_f0_mean (* {pitch} (cadr (assoc 'target_f0_mean int_lr_params))))
        (list 'target_f0_std (* {pitch} {range} (cadr (assoc 'target_f0_std int_lr_params))))
        (assoc 'model_f0_mean int_lr_params)
        (assoc 'model_f0_std int_lr_params)))
"""
_HTS_PROSODY = """
(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate}))))
"""

_SCRIPT = """
(voice_{voice})
{prosody}
(set! utt1 (utt.synth (Utterance Text "{text}")))
(utt.save.wave utt1 "{wav}" 'riff)
(set! es_i 0)
(mapcar (lambda (w) (set! es_i (+ es_i 1)) (item.set_feat w "es_index" es_i))
        (utt.relation.items utt1 'Word))
(set! fd (fopen "{labels}" "w"))
(mapcar (lambda (s) (format fd "seg %s %f %s\\n" (item.name s) (item.feat s "end")
                            (item.feat s "R:SylStructure.parent.parent.es_index")))
        (utt.relation.items utt1 'Segment))
(mapcar (lambda (w) (format fd "word %s %s\\n" (item.feat w "es_index") (item.name w)))
        (utt.relation.items utt1 'Word))
(fclose fd)
"""


def available(voice: str) -> bool:
    """Whether festival and this voice are installed."""
    if shutil.which("festival") is None:
        return False
    return any(Path("/usr/share/festival/voices").glob(f"*/{voice}"))


def synthesize(
    text: str, voice: str, *, hts: bool, rate: float, pitch: float, pitch_range: float
) -> tuple[np.ndarray, int, list[PhoneSegment], list[Word]]:
    """(int16 samples, sample rate, phones, words) of `text` (non-empty, whitespace already
    collapsed: see synth.synthesize) spoken by festival `voice`."""
    if shutil.which("festival") is None:
        raise EmoSpeakerError("festival is not installed (apt install festival festvox-...)")
    if hts:
        prosody = _HTS_PROSODY.format(rate=rate)
    else:
        prosody = _DIPHONE_PROSODY.format(rate=rate, pitch=pitch, range=pitch_range)
    with tempfile.TemporaryDirectory(prefix="emospeaker-festival-") as tmp:
        wav, labels = Path(tmp) / "speech.wav", Path(tmp) / "labels.txt"
        script = _SCRIPT.format(
            voice=voice, prosody=prosody, text=_scheme_string(text), wav=wav, labels=labels
        )
        proc = subprocess.run(
            ["festival", "--pipe"],
            input=script,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        if proc.returncode != 0 or not wav.is_file() or not labels.is_file():
            raise EmoSpeakerError(
                f"festival failed for voice {voice!r}: {(proc.stderr or proc.stdout)[-500:]}"
            )
        samples, sample_rate = _read_wav(wav)
        phones, words = _parse_labels(labels.read_text(), len(samples) / sample_rate)
    return samples, sample_rate, phones, words


def _scheme_string(text: str) -> str:
    """`text` as a Scheme string body in ASCII: festival reads bytes, and mangles (then cannot
    write back) anything beyond them, so "café — ok" is spoken as "cafe - ok"."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_PUNCTUATION))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii")
    return ascii_text.replace("\\", "\\\\").replace('"', '\\"')


_PUNCTUATION = str.maketrans({"\u2014": " - ", "\u2013": " - ", "\u2018": "'", "\u2019": "'",
                              "\u201c": '"', "\u201d": '"', "\u2026": "..."})  # fmt: skip


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise EmoSpeakerError(f"festival wrote {8 * w.getsampwidth()}-bit audio, expected 16")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16), w.getframerate()


def _parse_labels(doc: str, duration: float) -> tuple[list[PhoneSegment], list[Word]]:
    phones: list[PhoneSegment] = []
    word_of_phone: list[str | None] = []
    names: dict[str, str] = {}
    start = 0.0
    for line in doc.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "word":
            index, _, name = rest.partition(" ")
            names[index] = name
            continue
        name, end_text, index = rest.split(" ")
        end = min(float(end_text), duration)
        phone = festival_phone(name)
        if phone is None:
            raise EmoSpeakerError(f"festival segment {name!r} is not in a known phone set")
        phones.append(PhoneSegment(phone, start, end))
        word_of_phone.append(index if phone != SILENCE and index != "0" else None)
        start = end
    if start < duration:
        phones.append(PhoneSegment(SILENCE, start, duration))
        word_of_phone.append(None)
    words = group_words(phones, word_of_phone, lambda index: names.get(index, ""))
    return merge_silences(phones), words
