"""The phones pass: when each phone is spoken.

With a transcript the words are force-aligned; if that fails (unknown words, a transcript that
does not match the speech) the phones are recognised instead and the reason is reported as a
warning and in the track's provenance. Either way pauses found in the audio are carved into
the phone sequence, because the aligner has no optional silences between words and would
otherwise stretch a word over a pause.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...jobs import Job
from ...speech.phones import SILENCE, PhoneSegment
from ...speech.pool import align_in_worker, recognize_chunked
from ...speech.prosody import Prosody
from ...speech.recognize import AlignmentError, DecoderSettings, transcript_words

PAUSE_MARGIN = 0.03  # s kept at each end of a pause for the sound to fade in and out
MIN_PHONE_RATE, MAX_PHONE_RATE = 4.0, 25.0  # phones per second of speech that can be real


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
    """Phones of the audio: aligned to `transcript` when given and possible, else recognised."""
    method = "recognised"
    if transcript:
        try:
            phones = align_in_worker(samples, transcript_words(transcript), job)
            check_alignment(phones, prosody)
            return Timing(carve_pauses(phones, prosody.pauses), "aligned")
        except AlignmentError as exc:
            method = f"recognised (alignment failed: {exc})"
            warnings.warn(
                f"transcript not used, phones recognised instead: {exc}",
                AlignmentWarning,
                stacklevel=2,
            )
    phones = recognize_chunked(samples, prosody.pauses, settings, job)
    return Timing(carve_pauses(phones, prosody.pauses), method)


def check_alignment(phones: Sequence[PhoneSegment], prosody: Prosody) -> None:
    """Reject an alignment whose phone rate no speaker produces (a transcript far too short
    or too long for the speech), which pocketsphinx itself may accept."""
    speech = max(prosody.speech_seconds(), 1e-3)
    count = sum(p.phone != SILENCE for p in phones)
    rate = count / speech
    if rate < MIN_PHONE_RATE:
        raise AlignmentError(
            f"the transcript is too short for {speech:.1f} s of speech ({rate:.1f} phones/s)"
        )
    if rate > MAX_PHONE_RATE:
        raise AlignmentError(
            f"the transcript is too long for {speech:.1f} s of speech ({rate:.1f} phones/s)"
        )


def carve_pauses(
    phones: Sequence[PhoneSegment], pauses: Sequence[tuple[float, float]]
) -> list[PhoneSegment]:
    """Silence over every pause (less a margin at each end), splitting phones it cuts."""
    quiet = [(a + PAUSE_MARGIN, b - PAUSE_MARGIN) for a, b in pauses if b - a > 3 * PAUSE_MARGIN]
    out: list[PhoneSegment] = []

    def emit(phone: str, start: float, end: float) -> None:
        if end - start <= 1e-9:
            return
        if out and phone == SILENCE == out[-1].phone:
            out[-1] = PhoneSegment(SILENCE, out[-1].start, end)
        else:
            out.append(PhoneSegment(phone, start, end))

    for seg in phones:
        cursor = seg.start
        for a, b in quiet:
            if b <= cursor or a >= seg.end:
                continue
            emit(seg.phone, cursor, max(cursor, a))
            emit(SILENCE, max(cursor, a), min(seg.end, b))
            cursor = min(seg.end, b)
        emit(seg.phone, cursor, seg.end)
    return out
