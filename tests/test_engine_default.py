"""The default engine on synthesised speech with exact phone labels (real festival, real
pocketsphinx, worker processes included)."""

from __future__ import annotations

import math
import threading
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest

from conftest import SAMPLE_AUDIO
from emospeaker.api import animate
from emospeaker.audio import Audio, load_audio
from emospeaker.channels import ALL_CHANNELS, HEAD_ROTATION, index_of
from emospeaker.emotion import EMOTIONS, MAX_INTENSITY, EmotionTimeline
from emospeaker.engines import get_engine
from emospeaker.engines.default.emotion import PROTOTYPES, emotion_layer
from emospeaker.engines.default.eyes import blink_times
from emospeaker.engines.default.head import head_layer
from emospeaker.engines.default.lips import LipsTuning, lips_layer
from emospeaker.engines.default.timing import AlignmentWarning
from emospeaker.errors import Cancelled, InputError
from emospeaker.jobs import Job
from emospeaker.metrics import (
    CLOSED_BELOW,
    bilabial_closure_share,
    lips_closed,
    mouth_opening,
)
from emospeaker.speech import synthesize
from emospeaker.speech.phones import PhoneSegment
from emospeaker.speech.prosody import analyse
from emospeaker.track import ENGINE_LAYERS

TEXT = "Bob bought a big map, and five brave foxes moved over the fence."
FPS = 30
# the ARKit channels each emotion's prototype drives most (see engines/default/emotion.py)
SIGNATURE = {
    "happy": ["mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft"],
    "sad": ["browInnerUp", "mouthFrownLeft", "mouthFrownRight"],
    "surprised": ["browInnerUp", "browOuterUpLeft", "eyeWideLeft"],
    "fear": ["browInnerUp", "eyeWideRight", "mouthStretchLeft"],
    "angry": ["browDownLeft", "browDownRight", "eyeSquintLeft", "mouthPressLeft"],
    "disgusted": ["noseSneerLeft", "noseSneerRight", "mouthFrownLeft"],
    "contempt": ["mouthSmileRight", "mouthDimpleRight"],
}


@pytest.fixture(scope="module")
def utt():
    return synthesize(TEXT, "cmu_us_slt_arctic_hts")


def run(utt, emotion=None, **kwargs):
    timeline = EmotionTimeline.parse(emotion) if isinstance(emotion, str) else emotion
    kwargs.setdefault("fps", FPS)
    return animate(utt.audio, timeline, **kwargs)


@pytest.fixture(scope="module")
def aligned(utt):
    return run(utt, transcript=utt.text)


@pytest.fixture(scope="module")
def recognised(utt):
    return run(utt)


def frames_of(track, seg, margin=0):
    times = track.times()
    inside = np.flatnonzero((times >= seg.start) & (times < seg.end))
    if inside.size == 0:
        inside = np.array([int(np.argmin(np.abs(times - (seg.start + seg.end) / 2)))])
    lo, hi = max(0, inside[0] - margin), min(track.frames, inside[-1] + margin + 1)
    return np.arange(lo, hi)


def test_track_layout_and_provenance(recognised, utt):
    track = recognised
    assert tuple(track.layers) == ENGINE_LAYERS and track.channels == ALL_CHANNELS
    assert track.frames == math.ceil(Fraction(len(utt.audio.samples), 16000) * FPS)
    assert track.emotion.shape == (track.frames, 8)
    engine = get_engine("default")
    assert track.provenance["engine"] == "default"
    assert track.provenance["engine_version"] == engine.version
    assert track.provenance["phones"] == "recognised"
    assert track.provenance["phone_count"] > 30


def test_lips_close_on_every_bilabial_with_the_transcript(aligned, utt):
    assert aligned.provenance["phones"] == "aligned"
    share, count = bilabial_closure_share(lips_closed(aligned), utt.phones, FPS)
    assert count == 8 and share == 1.0  # Bob, bought, big, map, brave, moved


def test_lips_close_on_most_bilabials_from_recognition_alone(recognised, utt):
    share, _ = bilabial_closure_share(lips_closed(recognised), utt.phones, FPS)
    assert share >= 0.6


def test_f_and_v_bring_the_lower_lip_to_the_teeth(aligned, utt):
    roll = aligned.channel("mouthRollLower")
    opening = mouth_opening(aligned)
    labiodentals = [p for p in utt.phones if p.phone in ("F", "V")]
    assert len(labiodentals) >= 5
    for seg in labiodentals:
        frames = frames_of(aligned, seg, margin=1)
        assert np.any((roll[frames] >= 0.4) & (opening[frames] < CLOSED_BELOW)), seg


def test_rounded_vowels_pucker_and_spread_vowels_do_not(aligned, utt):
    rounding = aligned.channel("mouthPucker") + aligned.channel("mouthFunnel")

    def mean_over(phones):
        frames = np.concatenate([frames_of(aligned, p) for p in utt.phones if p.phone in phones])
        return rounding[frames].mean()

    # calibrated on captured real speech, where pucker and funnel move little (std ~0.02)
    rounded, spread = mean_over({"UW", "OW", "AO"}), mean_over({"IH", "EH", "IY", "AE"})
    assert rounded > 0.04 and spread < 0.25 * rounded


def test_jaw_follows_loudness(utt):
    """The same sentence spoken again 20 dB quieter opens the jaw less on its vowels."""
    quiet = Audio(np.concatenate([utt.audio.samples, 0.1 * utt.audio.samples]))
    track = animate(quiet, fps=FPS, transcript=f"{utt.text} {utt.text}")
    jaw = track.channel("jawOpen")
    vowels = [p for p in utt.phones if p.phone in ("AA", "AO", "AE", "AH", "EH", "AY")]
    loud = np.concatenate([frames_of(track, p) for p in vowels])
    shift = round(utt.duration * FPS)
    soft = loud + shift
    assert jaw[soft].mean() < 0.9 * jaw[loud].mean()
    # open vowels open the mouth wide (the jaw, calibrated on real faces, shares the drop
    # with the lower lip)
    assert jaw[loud].mean() > 0.2 and mouth_opening(track)[loud].mean() > 0.25


def test_ordinary_speech_keeps_the_jaw_conversational():
    """Calibrated on captured real speech: the bundled sample, read in an ordinary voice,
    keeps jawOpen's 95th percentile under 0.45 while the lips still part and close (engine
    1.1.0 reached 0.6)."""
    audio = load_audio(SAMPLE_AUDIO)
    track = animate(audio, fps=FPS)  # recognised phones ("EmoSpeaker" is in no dictionary)
    prosody = analyse(audio.samples)
    speaking = prosody.sample("speaking", track.times()) > 0.5
    jaw = track.channel("jawOpen")[speaking]
    assert np.percentile(jaw, 95) <= 0.45
    assert np.percentile(mouth_opening(track)[speaking], 95) > 0.12  # it does open
    assert lips_closed(track)[speaking].mean() > 0.05  # and closes


def test_the_jaws_drop_is_shared_with_the_lips():
    """As in captured faces, the lower lip drops with the jaw and mouthClose takes a small
    share of it, so the lips part less than the jaw alone would part them."""
    phones = [PhoneSegment("SIL", 0.0, 0.3), PhoneSegment("AA", 0.3, 1.7)]
    phones += [PhoneSegment("SIL", 1.7, 2.0)]
    times = np.arange(60) / FPS
    loud = np.linspace(0.0, 1.0, 60)
    layer = lips_layer(phones, times, loud)[0]
    jaw, lower = layer[:, index_of("jawOpen")], layer[:, index_of("mouthLowerDownLeft")]
    close = layer[:, index_of("mouthClose")]
    vowel = (times > 0.45) & (times < 1.55)
    assert np.corrcoef(jaw[vowel], lower[vowel])[0, 1] > 0.9
    assert np.all(close[vowel] > 0) and np.all(close[vowel] < 0.5 * jaw[vowel])
    off = LipsTuning(1.0, (1.0, 0.0), (1.0, 0.0), 0.0, 1.0, 1.0, 1.0, 0.0)
    plain = lips_layer(phones, times, loud, tuning=off)[0]
    assert not np.allclose(plain, layer)  # the calibration pass does act


def test_silence_relaxes_to_a_closed_mouth(utt):
    pause = np.zeros(int(0.8 * 16000), np.float32)
    padded = Audio(np.concatenate([pause, utt.audio.samples, pause]))
    track = animate(padded, fps=FPS, transcript=utt.text)
    times = track.times()
    # before the in-breath that precedes speech, and after the speech has ended
    quiet = (times < 0.8 - 0.45) | (times > 0.8 + utt.duration + 0.15)
    assert lips_closed(track)[quiet].all()
    assert track.channel("jawOpen")[quiet].max() < 0.02
    breath = (times > 0.8 - 0.25) & (times < 0.8)
    assert mouth_opening(track)[breath].max() > 0.1  # the mouth opens to breathe in


def test_the_silent_in_breath_keeps_its_opening_whatever_the_loudness():
    phones = [PhoneSegment("SIL", 0.0, 1.0), PhoneSegment("AA", 1.0, 1.3)]
    phones += [PhoneSegment("SIL", 1.3, 2.0)]
    times = np.arange(60) / FPS
    silent, loud = (lips_layer(phones, times, np.full(60, v))[0] for v in (0.0, 1.0))
    breath = (times > 0.7) & (times < 0.9)
    vowel = (times > 1.05) & (times < 1.25)
    assert mouth_opening(silent)[breath].min() > 0.1
    assert np.allclose(mouth_opening(silent)[breath], mouth_opening(loud)[breath], atol=0.02)
    assert mouth_opening(loud)[vowel].mean() > 2 * mouth_opening(silent)[vowel].mean()


def test_spread_vowels_part_the_lips_more_than_rounded_ones():
    """As real mouths do (measured on tracked video): "ee" shows a lip gap, "oo" hardly."""
    utt = synthesize("We see three sheep, two blue shoes and a wooden spoon.", "kal_diphone")
    track = run(utt, transcript=utt.text)
    assert track.provenance["phones"] == "aligned"
    opening = mouth_opening(track)

    def mean_over(phones):
        return opening[
            np.concatenate([frames_of(track, p) for p in utt.phones if p.phone in phones])
        ]

    assert mean_over({"IY"}).mean() > 2.5 * mean_over({"UW", "W"}).mean()
    assert mean_over({"UW", "W"}).mean() < 0.15


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_each_emotion_raises_its_action_units(emotion, utt, recognised):
    track = run(utt, f"{emotion}:1")
    for channel in SIGNATURE[emotion]:
        assert track.channel(channel).mean() > recognised.channel(channel).mean() + 0.15, channel


def test_intensity_is_monotone_smooth_and_saturating_above_one():
    intensities = np.linspace(0, MAX_INTENSITY, 81)
    for k, emotion in enumerate(EMOTIONS):
        if not PROTOTYPES[emotion]:
            continue
        curves = np.zeros((len(intensities), 8), np.float32)
        curves[:, k] = intensities
        layer = emotion_layer(curves, np.zeros(len(intensities)))
        for channel in SIGNATURE[emotion]:
            values = layer[:, index_of(channel)]
            steps = np.diff(values)
            assert np.all(steps > 0), (emotion, channel)  # strictly rising, also above 1
            assert steps.max() < 0.05  # no jump between neighbouring intensities
            assert values.max() < 1.0  # saturates without a hard clip
            assert steps[-10:].mean() < steps[:10].mean()  # and flattens towards the top


def test_an_intensity_ramp_gives_smooth_curves(utt):
    ramp = EmotionTimeline.parse(f"0s=happy:0@linear,{utt.duration:.2f}s=happy:{MAX_INTENSITY}")
    track = run(utt, ramp)
    smile = track.layers["emotion"][:, index_of("mouthSmileLeft")]
    assert smile[-1] > smile[len(smile) // 2] > smile[0] == 0
    assert np.abs(np.diff(smile)).max() < 0.05


def test_emotion_never_breaks_lip_closures(utt):
    strong = "surprised:4+fear:3+happy:4+disgusted:4"
    track = run(utt, strong, transcript=utt.text)
    share, _ = bilabial_closure_share(lips_closed(track), utt.phones, FPS)
    assert share == 1.0
    assert track.layers["emotion"][:, index_of("jawOpen")].max() > 0.2  # it does open elsewhere


def test_a_smile_holds_through_speech_and_its_closures(utt):
    track = run(utt, "happy:1", transcript=utt.text)
    smile = track.values[:, index_of("mouthSmileLeft")]
    closed = lips_closed(track)
    assert closed.any() and smile.min() > 0.7  # on every frame, closures included
    assert bilabial_closure_share(closed, utt.phones, FPS)[0] == 1.0


def test_same_seed_same_output_and_seeds_differ(utt, recognised):
    again = run(utt, seed=0)
    assert again == recognised  # every layer, bit for bit
    other = run(utt, seed=7)
    assert not np.array_equal(other.layers["eyes"], recognised.layers["eyes"])
    assert not np.array_equal(other.layers["head"], recognised.layers["head"])
    assert np.array_equal(other.layers["lips"], recognised.layers["lips"])


@pytest.mark.parametrize("fps", ["24000/1001", "24", "25", "30000/1001", "30", "50", "60"])
def test_frame_rates_give_the_right_frame_count(utt, fps):
    track = run(utt, fps=fps)
    rate = Fraction(fps)
    assert track.fps == rate
    assert track.frames == math.ceil(Fraction(len(utt.audio.samples), 16000) * rate)
    share, _ = bilabial_closure_share(lips_closed(track), utt.phones, float(rate))
    assert share >= 0.6


def test_a_wrong_transcript_falls_back_to_recognition_with_a_warning(utt, recognised):
    with pytest.warns(AlignmentWarning, match="transcript not used"):
        track = run(utt, transcript="The quick brown dog jumps over the lazy cat near a river.")
    assert track.provenance["phones"].startswith("recognised (alignment failed: ")
    assert np.array_equal(track.layers["lips"], recognised.layers["lips"])
    with pytest.warns(AlignmentWarning, match="not in the dictionary: zorblaxt"):
        track = run(utt, transcript="Bob bought a zorblaxt")
    assert "zorblaxt" in track.provenance["phones"]


def test_options_shape_the_layers(utt, recognised):
    calm = run(utt, options={"head_motion": 0, "blink_rate": 0, "lip_gain": 0.5})
    head = calm.layers["head"]
    assert not head.any()
    assert calm.layers["eyes"][:, index_of("eyeBlinkLeft")].max() == 0
    assert calm.channel("jawOpen").max() < 0.7 * recognised.channel("jawOpen").max()
    assert calm.provenance["options"]["lip_gain"] == 0.5
    with pytest.raises(InputError, match="no option 'wobble'"):
        run(utt, options={"wobble": 1})
    with pytest.raises(InputError, match="recognizer"):
        run(utt, options={"recognizer": "psychic"})


def test_head_moves_with_prosody_and_emotion_shapes_it(utt, recognised):
    rotation = recognised.layers["head"][:, [index_of(n) for n in HEAD_ROTATION]]
    assert 0.005 < np.abs(rotation).max() < 0.3  # radians: visible, not wild
    prosody = analyse(utt.audio.samples)
    times = recognised.times()
    curves = np.zeros((len(times), 8), np.float32)
    amplitude = {}
    for emotion in ("sad", "angry"):
        curves[:] = 0
        curves[:, EMOTIONS.index(emotion)] = 1
        layer = head_layer(prosody, times, curves, seed=0)
        amplitude[emotion] = np.abs(layer[:, index_of("headPitch")]).mean()
    assert amplitude["sad"] < 0.6 * amplitude["angry"]


def test_neutral_speech_has_a_living_upper_face(recognised, utt):
    """Brows follow the melody and accents, the eyes narrow (and the cheeks lift) on accents,
    even with no emotion keyed."""
    head = recognised.layers["head"]
    prosody = analyse(utt.audio.samples)
    speaking = prosody.sample("speaking", recognised.times()) > 0.5
    for name, least in (("browInnerUp", 0.02), ("browOuterUpLeft", 0.015),
                        ("browDownLeft", 0.003), ("eyeSquintLeft", 0.005),
                        ("cheekSquintLeft", 0.002)):  # fmt: skip
        assert head[speaking, index_of(name)].std() > least, name
    assert (
        head[~speaking, index_of("eyeSquintLeft")].mean()
        < head[speaking, index_of("eyeSquintLeft")].mean()
    )  # squints come with the speech's accents, not in pauses
    assert recognised.layers["emotion"].max() == 0  # all of it is prosody, none is emotion


def test_blinks_happen_and_their_rate_depends_on_emotion(recognised):
    blinks = recognised.layers["eyes"][:, index_of("eyeBlinkLeft")]
    assert blinks.max() > 0.8
    counts = {rate: len(blink_times(np.random.default_rng(1), 600, rate, [])) for rate in (8, 25)}
    assert counts[25] > 2 * counts[8]
    angry = run_eyes_rate("angry")
    fear = run_eyes_rate("fear")
    assert fear > 1.5 * angry
    # the rate follows the emotion curves through the clip
    from emospeaker.engines.default.eyes import eyes_layer

    times = np.arange(0, 600, 1 / FPS)
    curves = np.zeros((len(times), 8), np.float32)
    curves[len(times) // 2 :, EMOTIONS.index("fear")] = 1
    lids = eyes_layer(times, 600.0, curves, [], seed=1)[:, index_of("eyeBlinkLeft")]
    onsets = times[1:][(lids[1:] >= 0.5) & (lids[:-1] < 0.5)]
    assert (onsets >= 300).sum() > 1.3 * (onsets < 300).sum()


def run_eyes_rate(emotion: str) -> int:
    from emospeaker.engines.default.eyes import eyes_layer

    times = np.arange(0, 300, 1 / FPS)
    curves = np.zeros((len(times), 8), np.float32)
    curves[:, EMOTIONS.index(emotion)] = 1
    lids = eyes_layer(times, 300.0, curves, [], seed=3)[:, index_of("eyeBlinkLeft")]
    return int(np.sum((lids[1:] >= 0.5) & (lids[:-1] < 0.5)))


def test_cancelling_stops_the_engine_promptly(utt):
    long = Audio(np.tile(utt.audio.samples, 12))  # ~45 s
    cancelled_at: list[float] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "phones" and fraction > 0 and not cancelled_at:
            cancelled_at.append(time.perf_counter())
            job.cancel()

    job = Job(on_progress=progress)
    with pytest.raises(Cancelled):
        animate(long, fps=FPS, job=job)
    assert time.perf_counter() - cancelled_at[0] < 1.0
    # the recogniser's workers survive a cancelled call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert animate(utt.audio, fps=FPS).frames > 0


def test_cancelling_from_another_thread_during_alignment(utt):
    long = Audio(np.tile(utt.audio.samples, 12))
    cancelled_at: list[float] = []

    def progress(stage: str, fraction: float) -> None:
        if stage == "alignment" and not cancelled_at:  # waiting for the aligner's worker
            cancelled_at.append(time.perf_counter())
            canceller = threading.Thread(target=job.cancel)
            canceller.start()
            canceller.join()  # cancelled before the wait starts, however loaded the machine

    job = Job(on_progress=progress)
    with pytest.raises(Cancelled):
        animate(long, fps=FPS, transcript=" ".join([utt.text] * 12), job=job)
    assert cancelled_at and time.perf_counter() - cancelled_at[0] < 1.0


def test_concurrent_calls_share_the_engine_safely(utt, recognised):
    """A server animates several requests at once with the one engine instance."""
    results: list = [None] * 3

    def work(i: int) -> None:
        results[i] = run(utt, transcript=utt.text if i == 2 else None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results[0] == recognised and results[1] == recognised
    assert results[2].provenance["phones"] == "aligned"
