"""Labelled speech synthesis, phone recognition and alignment (real festival, espeak-ng and
pocketsphinx)."""

from __future__ import annotations

import numpy as np
import pytest

from emospeaker.audio import SAMPLE_RATE
from emospeaker.errors import InputError
from emospeaker.speech import PHONES, VOICES, recognize, synthesize
from emospeaker.speech.phones import SILENCE
from emospeaker.speech.pool import chunk_bounds, recognize_chunked
from emospeaker.speech.prosody import analyse
from emospeaker.speech.recognize import (
    AlignmentError,
    align_phones,
    recognize_phones,
    transcript_words,
    unknown_words,
)

TEXT = "Bob bought a big map, and five foxes moved."


@pytest.fixture(scope="module")
def hts():
    return synthesize(TEXT, "cmu_us_slt_arctic_hts")


def _check_labels(utt) -> None:
    assert utt.audio.samples.dtype == np.float32 and utt.duration > 1.0
    assert utt.phones[0].start == 0.0
    assert utt.phones[-1].end == pytest.approx(utt.duration, abs=0.02)
    for a, b in zip(utt.phones, utt.phones[1:], strict=False):
        assert a.end == pytest.approx(b.start) and a.end > a.start
    assert {p.phone for p in utt.phones} <= set(PHONES)
    assert [w.text.lower().strip(",.") for w in utt.words] == transcript_words(TEXT)


@pytest.mark.parametrize("voice", list(VOICES))
def test_every_voice_speaks_with_labels(voice):
    utt = synthesize(TEXT, voice)
    _check_labels(utt)
    bilabials = [p for p in utt.phones if p.phone in ("B", "P", "M")]
    assert len(bilabials) >= 6  # Bob, bought, big, map, moved


def test_phone_labels_match_the_sound():
    """Silences are quiet and every P/B segment holds a quiet closure (diphone voice; the
    HTS voice's labels are its generator's durations, and it can render a b-b closure
    inside the second B)."""
    utt = synthesize(TEXT, "kal_diphone")
    samples = utt.audio.samples

    def level(seg, part=1.0):
        a = int(seg.start * SAMPLE_RATE)
        b = int((seg.start + part * seg.duration) * SAMPLE_RATE)
        return 20 * np.log10(np.sqrt(np.mean(samples[a:b] ** 2)) + 1e-9)

    def quietest(seg):  # the quietest 20 ms of the segment
        a, b = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE)
        windows = [samples[i : i + 320] for i in range(a, max(a + 1, b - 319), 80)]
        return min(20 * np.log10(np.sqrt(np.mean(w**2)) + 1e-9) for w in windows)

    vowels = [level(p) for p in utt.phones if p.phone in ("AA", "AO", "AE", "IH", "UW", "AY")]
    silences = [level(p) for p in utt.phones if p.phone == SILENCE and p.duration > 0.1]
    closures = [quietest(p) for p in utt.phones if p.phone in ("P", "B")]
    assert max(silences) < np.median(vowels) - 30
    assert max(closures) < np.median(vowels) - 10


def test_espeak_stop_closures_are_attributed_to_the_stop():
    """espeak-ng marks a voiceless stop at its burst; the closure before it is moved into
    the stop, so each P starts with its silent closure."""
    utt = synthesize("Pop up, keep the pepper, top hat.", "en-us")
    samples = utt.audio.samples
    stops = [p for p in utt.phones if p.phone in ("P", "T", "K")]
    assert len(stops) >= 8
    for p in stops:
        a = int(p.start * SAMPLE_RATE)
        first = samples[a : a + int(0.02 * SAMPLE_RATE)]
        assert np.sqrt(np.mean(first**2)) < 0.003, p


def test_prosody_parameters_change_rate_and_pitch():
    base = synthesize("Maybe we should wait.", "kal_diphone")
    fast = synthesize("Maybe we should wait.", "kal_diphone", rate=1.5)
    high = synthesize("Maybe we should wait.", "kal_diphone", pitch=1.4)
    assert fast.duration < 0.8 * base.duration
    f0 = [np.nanmedian(analyse(u.audio.samples).f0) for u in (base, high)]
    assert f0[1] / f0[0] == pytest.approx(1.4, rel=0.12)
    hts_fast = synthesize("Maybe we should wait.", "cmu_us_slt_arctic_hts", rate=1.4)
    hts_base = synthesize("Maybe we should wait.", "cmu_us_slt_arctic_hts")
    assert hts_fast.duration < 0.85 * hts_base.duration
    assert hts_fast.phones[-2].end < 0.85 * hts_base.phones[-2].end  # labels follow
    with pytest.raises(InputError, match="cannot vary pitch"):
        synthesize("Maybe we should wait.", "cmu_us_slt_arctic_hts", pitch=1.2)
    espeak_high = synthesize("Maybe we should wait.", "en-us", pitch=1.3)
    espeak_base = synthesize("Maybe we should wait.", "en-us")
    ratio = np.nanmedian(analyse(espeak_high.audio.samples).f0) / np.nanmedian(
        analyse(espeak_base.audio.samples).f0
    )
    assert ratio == pytest.approx(1.3, rel=0.12)


def test_bad_synthesis_requests_name_the_problem():
    with pytest.raises(InputError, match="unknown voice 'nobody'.*kal_diphone"):
        synthesize("hello", "nobody")
    with pytest.raises(InputError, match="rate=5"):
        synthesize("hello", rate=5)
    with pytest.raises(InputError, match="empty"):
        synthesize("   ", "kal_diphone")
    with pytest.raises(InputError, match="empty"):
        synthesize("", "en-us")


def test_festival_speaks_typographic_text():
    said = synthesize("Well \u2014 it\u2019s a \u201ccaf\u00e9\u201d\u2026", "kal_diphone")
    assert [w.text for w in said.words] == ["Well", "it's", "a", "cafe"]


def test_transcript_words_and_dictionary(monkeypatch):
    assert transcript_words("Don't STOP, it's 'fine'!") == ["don't", "stop", "it's", "fine"]
    # checking words reads the dictionary file, it does not build the aligner
    monkeypatch.setattr(recognize, "_align_decoder", lambda: pytest.fail("aligner built"))
    assert unknown_words(["hello", "zorblaxt", "world"]) == ["zorblaxt"]
    assert unknown_words(["read", "aalborg", "don't"]) == []  # words with "word(2)" entries


def test_alignment_follows_the_true_phone_boundaries(hts):
    alignment = align_phones(hts.audio.samples, transcript_words(hts.text))
    truth = np.array([p.start for p in hts.phones[1:]])
    found = np.array([p.start for p in alignment.phones[1:]])
    error = np.min(np.abs(truth[:, None] - found[None, :]), axis=1)
    assert np.median(error) < 0.03
    assert alignment.fit > -3e-3
    with pytest.raises(AlignmentError, match="not in the dictionary"):
        align_phones(hts.audio.samples, ["zorblaxt"])


def test_recognition_finds_most_of_the_phones(hts):
    phones = recognize_phones(hts.audio.samples)
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(hts.duration, abs=0.01)
    found = {p.phone for p in phones}
    assert len(found & {"B", "AA", "M", "F", "V", "S", "IH"}) >= 5


def test_chunks_tile_the_audio_and_workers_agree_with_this_process(hts):
    samples = np.tile(hts.audio.samples, 6)  # ~17 s, several chunks
    pauses = analyse(samples).pauses
    bounds = chunk_bounds(samples, pauses)
    assert len(bounds) >= 3 and all(b - a <= 8 * SAMPLE_RATE for a, b in bounds)
    assert all(b <= c for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False))
    covered = sum(b - a for a, b in bounds) + sum(
        max(0, b - a - 0.3) * SAMPLE_RATE for a, b in pauses if b - a >= 0.4
    )
    assert covered == pytest.approx(len(samples), rel=0.02)  # only long pauses are skipped
    here = recognize_chunked(samples, pauses, in_workers=False)
    spread = recognize_chunked(samples, pauses, in_workers=True)
    assert here == spread
    assert here[0].start == 0 and here[-1].end == pytest.approx(len(samples) / SAMPLE_RATE)
    assert all(a.end == b.start for a, b in zip(here, here[1:], strict=False))
