"""The phones pass: when each phone is spoken.

With a transcript the words are force-aligned (in a worker process) while the phones are
recognised here; the alignment is used unless it fails or does not match the speech:

- unknown words, or pocketsphinx finding no path;
- a phone rate no speaker produces (a transcript far too short or long for the speech);
- a poor acoustic fit (below MIN_FIT, see recognize.Alignment);
- the mouth opening the aligned phones imply disagreeing with the recognised phones' (Pearson
  r below MIN_AGREEMENT over the speech).

On clean speech this catches transcripts of other sentences; on noisy recordings, where the
recogniser itself is unsure, a wrong transcript of similar length can pass.

Then the recognised phones are used, and the reason is reported as a warning and in the
track's provenance. Either way pauses found in the audio are carved into the phone
sequence, because the aligner has no optional silences between words and would otherwise
stretch a word over a pause.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...jobs import Job
from ...metrics import opening_from_phones, pearson_with_lag
from ...speech.phones import SILENCE, PhoneSegment, merge_silences
from ...speech.pool import finish_alignment, recognize_chunked, start_alignment
from ...speech.prosody import Prosody
from ...speech.recognize import (
    Alignment,
    AlignmentError,
    DecoderSettings,
    transcript_words,
    unknown_words,
)

PAUSE_MARGIN = 0.03  # s kept at each end of a pause for the sound to fade in and out
MIN_PHONE_RATE, MAX_PHONE_RATE = 4.0, 25.0  # phones per second of speech that can be real
# Measured on the 8 synthetic voices (32 correct and 96 wrong transcripts, i.e. other
# sentences): correct ones fit >= -5.9e-3 (festival >= -1.8e-3) with agreement >= 0.53;
# 92 of the 96 wrong ones fail to align or fall below one of the two limits.
MIN_FIT = -6.0e-3
MIN_AGREEMENT = 0.5


class AlignmentWarning(UserWarning):
    """The transcript could not be used; phones were recognised instead."""


@dataclass(frozen=True)
class Timing:
    phones: list[PhoneSegment]
    method: str  # "aligned", "recognised" or "recognised (alignment failed: ...)"


def find_phones(
    samples: np.ndarray,
    prosody: Prosody,
    transcript: str | None,
    settings: DecoderSettings,
    job: Job,
) -> Timing:
    """Phones of the audio: aligned to `transcript` when given and usable, else recognised."""
    pending, words, failure = None, [], ""
    if transcript:
        words = transcript_words(transcript)
        missing = unknown_words(words)
        if not words:
            failure = "the transcript has no words"
        elif missing:
            failure = f"words not in the dictionary: {', '.join(missing[:8])}"
        else:
            pending = start_alignment(samples, words)
    recognised = recognize_chunked(
        samples, prosody.pauses, settings, job.part(0.0, 0.9), in_workers=pending is None
    )
    recognised = carve_pauses(recognised, prosody.pauses)
    if words and not failure:
        try:
            alignment = finish_alignment(pending, samples, words, job.part(0.9, 1.0))
            aligned = carve_pauses(alignment.phones, prosody.pauses)
            check_alignment(alignment, aligned, recognised, prosody)
            return Timing(aligned, "aligned")
        except AlignmentError as exc:
            failure = str(exc)
    if failure:
        warnings.warn(
            f"transcript not used, phones recognised instead: {failure}",
            AlignmentWarning,
            stacklevel=2,
        )
        return Timing(recognised, f"recognised (alignment failed: {failure})")
    return Timing(recognised, "recognised")


def check_alignment(
    alignment: Alignment,
    aligned: Sequence[PhoneSegment],
    recognised: Sequence[PhoneSegment],
    prosody: Prosody,
) -> None:
    """Raise AlignmentError for an alignment that does not describe this speech (which
    pocketsphinx may still produce for a wrong transcript)."""
    speech = max(prosody.speech_seconds(), 1e-3)
    rate = sum(p.phone != SILENCE for p in aligned) / speech
    if rate < MIN_PHONE_RATE:
        raise AlignmentError(
            f"the transcript is too short for {speech:.1f} s of speech ({rate:.1f} phones/s)"
        )
    if rate > MAX_PHONE_RATE:
        raise AlignmentError(
            f"the transcript is too long for {speech:.1f} s of speech ({rate:.1f} phones/s)"
        )
    if alignment.fit < MIN_FIT:
        raise AlignmentError(
            f"the transcript does not match the speech (acoustic fit {alignment.fit * 1e3:.1f}"
            f" < {MIN_FIT * 1e3:.1f})"
        )
    at = prosody.times[~prosody.pause_mask()]
    agreement, _ = pearson_with_lag(
        opening_from_phones(aligned, at, 0.02), opening_from_phones(recognised, at, 0.02), 3
    )
    if np.isfinite(agreement) and agreement < MIN_AGREEMENT:  # NaN: too little to judge
        raise AlignmentError(
            f"the transcript does not match the recognised phones (agreement r="
            f"{agreement:.2f} < {MIN_AGREEMENT})"
        )


def carve_pauses(
    phones: Sequence[PhoneSegment], pauses: Sequence[tuple[float, float]]
) -> list[PhoneSegment]:
    """Silence over every pause (less a margin at each end), splitting phones it cuts."""
    quiet = [(a + PAUSE_MARGIN, b - PAUSE_MARGIN) for a, b in pauses if b - a > 3 * PAUSE_MARGIN]
    pieces: list[PhoneSegment] = []
    for seg in phones:
        cursor = seg.start
        for a, b in quiet:
            if b <= cursor or a >= seg.end:
                continue
            pieces.append(PhoneSegment(seg.phone, cursor, max(cursor, a)))
            pieces.append(PhoneSegment(SILENCE, max(cursor, a), min(seg.end, b)))
            cursor = min(seg.end, b)
        pieces.append(PhoneSegment(seg.phone, cursor, seg.end))
    return merge_silences([p for p in pieces if p.end - p.start > 1e-9])
