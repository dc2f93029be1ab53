"""The synthetic training corpus: Debian voices speaking with emotional prosody, and targets
from exact phone timings through the default engine's passes. No downloads, reproducible.

Clip i (all choices from a generator seeded with (seed, i)):
- emotion EMOTIONS[i % 8], level 1 + (i // 8) % 3 (intensity level / 3), a voice taken in
  turn from the installed festival and espeak-ng voices, a sentence of our own grammar
  (train/sentences.py; the benchmark sentences of speech/sentences.py are never trained on),
  a frame rate among 24, 25 and 30 fps;
- prosody: the emotion's factors on rate, pitch, pitch range and volume (EMOTION_PROSODY, at
  intensity 1; scaled linearly with intensity), times a small random jitter per clip so that
  emotions overlap as real voices do, for the controls each voice has (festival's HTS voice
  varies only rate and volume), plus 0.1-0.4 s of silence before and after;
- targets: the synthesiser's exact phones -> the default engine's lips pass (visemes,
  coarticulation, loudness, closures), emotion pass (FACS prototypes, masked at closures),
  head pass (prosody, seeded) and eyes pass (seeded); AUs exactly from the emotion curves.
Every tenth block of eight consecutive clips (one per emotion, all at one level; the levels
take turns) is held out for validation.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..audio import SAMPLE_RATE
from ..emotion import EMOTIONS
from ..engines.default.engine import DefaultEngine, compose_layers
from ..jobs import Job
from ..speech.phones import SILENCE, PhoneSegment
from ..speech.prosody import analyse
from ..speech.synth import LIMITS, VOICES, available_voices, synthesize
from ..track import frame_count
from .au import AU_NAMES, aus_from_curves
from .corpus import Clip, CorpusWriter, constant_curves
from .sentences import sentences

LEVELS = 3
FRAME_RATES = (Fraction(24), Fraction(25), Fraction(30))
# factors at intensity 1 on (rate, pitch, pitch range, volume); 1 where absent
EMOTION_PROSODY: dict[str, dict[str, float]] = {
    "neutral": {},
    "angry": {"rate": 1.12, "pitch": 1.08, "pitch_range": 1.45, "volume": 1.4},
    "contempt": {"rate": 0.88, "pitch": 0.93, "pitch_range": 0.75, "volume": 0.9},
    "disgusted": {"rate": 0.84, "pitch": 0.92, "pitch_range": 1.25, "volume": 0.95},
    "fear": {"rate": 1.22, "pitch": 1.2, "pitch_range": 0.65, "volume": 0.7},
    "happy": {"rate": 1.1, "pitch": 1.16, "pitch_range": 1.6, "volume": 1.15},
    "sad": {"rate": 0.76, "pitch": 0.87, "pitch_range": 0.45, "volume": 0.6},
    "surprised": {"rate": 0.98, "pitch": 1.26, "pitch_range": 1.8, "volume": 1.2},
}
JITTER = {"rate": 0.06, "pitch": 0.06, "pitch_range": 0.15, "volume": 0.12}


def prosody_for(
    emotion: str, intensity: float, rng: np.random.Generator, voice: str
) -> dict[str, float]:
    """Synthesiser settings for an emotion at an intensity, with the per-clip jitter, for the
    prosody `voice` can vary (volume always; the others stay 1 where the voice cannot)."""
    out = {}
    for name, jitter in JITTER.items():
        factor = 1.0 + (EMOTION_PROSODY[emotion].get(name, 1.0) - 1.0) * intensity
        value = factor * float(np.exp(rng.normal(0.0, jitter)))
        low, high = LIMITS[name]
        varies = name == "volume" or name in VOICES[voice].controls
        out[name] = float(np.clip(value, low, high)) if varies else 1.0
    return out


def engine_targets(
    samples: np.ndarray,
    phones: list[PhoneSegment],
    fps: Fraction,
    curves: np.ndarray,
    seed: int,
) -> dict[str, np.ndarray]:
    """The default engine's four layers (default options) for known phones."""
    times = np.arange(curves.shape[0], dtype=np.float64) / float(fps)
    duration = len(samples) / SAMPLE_RATE
    options = DefaultEngine().resolve_options(None)
    return compose_layers(phones, analyse(samples), times, duration, curves, seed, options)


def pad_silence(
    audio: np.ndarray, phones: list[PhoneSegment], before: float, after: float
) -> tuple[np.ndarray, list[PhoneSegment]]:
    lead, tail = int(before * SAMPLE_RATE), int(after * SAMPLE_RATE)
    padded = np.concatenate([np.zeros(lead, np.float32), audio, np.zeros(tail, np.float32)])
    shift = lead / SAMPLE_RATE
    moved = [PhoneSegment(p.phone, p.start + shift, p.end + shift) for p in phones]
    end = len(padded) / SAMPLE_RATE
    return padded, [
        PhoneSegment(SILENCE, 0.0, shift),
        *moved,
        PhoneSegment(SILENCE, moved[-1].end if moved else shift, end),
    ]


def make_clip(index: int, seed: int, text: str, voices: list[str]) -> Clip:
    """Clip `index` of the corpus for `seed` (see the module docstring)."""
    rng = np.random.default_rng([seed, index])
    emotion = EMOTIONS[index % len(EMOTIONS)]
    level = 1 + (index // len(EMOTIONS)) % LEVELS
    intensity = level / LEVELS
    voice = voices[(index // (len(EMOTIONS) * LEVELS) + index) % len(voices)]
    fps = FRAME_RATES[int(rng.integers(len(FRAME_RATES)))]
    utterance = synthesize(text, voice, **prosody_for(emotion, intensity, rng, voice))
    audio, phones = pad_silence(
        utterance.audio.samples, list(utterance.phones), *rng.uniform(0.1, 0.4, size=2)
    )
    frames = frame_count(Fraction(len(audio), SAMPLE_RATE), fps)
    curves = constant_curves(frames, emotion, intensity)
    return Clip(
        id=f"syn{index:05d}",
        audio=audio,
        fps=fps,
        layers=engine_targets(audio, phones, fps, curves, seed * 100003 + index),
        aus=aus_from_curves(curves),
        emotion=emotion,
        intensity=intensity,
        level=level,
        speaker=voice,
        split="val" if (index // len(EMOTIONS)) % 10 == 9 else "train",
        text=text,
        phones=[(p.start, p.end, p.phone) for p in phones],
    )


def _make(args: tuple[int, int, str, list[str]]) -> Clip:
    return make_clip(*args)


def build_corpus(
    out: str | Path,
    clips: int,
    seed: int = 0,
    workers: int = 1,
    voices: list[str] | None = None,
    command: str = "",
    job: Job | None = None,
) -> Path:
    """Write (or finish) the synthetic corpus in `out`; returns the manifest path."""
    job = job or Job()
    voices = voices or available_voices()
    texts = sentences(clips, seed)
    if len(texts) < clips:
        texts = [texts[i % len(texts)] for i in range(clips)]
    info: dict[str, Any] = {
        "source": "synthetic",
        "seed": seed,
        "clips_requested": clips,
        "voices": voices,
        "targets": f"default engine {DefaultEngine.version}",
        "command": command,
        "emospeaker_version": __version__,
    }
    writer = CorpusWriter(out, AU_NAMES, info)
    todo = [(i, seed, texts[i], voices) for i in range(clips) if not writer.done(f"syn{i:05d}")]
    done = clips - len(todo)
    complete = False
    try:
        if workers > 1 and todo:
            with ProcessPoolExecutor(workers) as pool:
                for clip in pool.map(_make, todo, chunksize=4):
                    writer.add(clip)
                    done += 1
                    job.progress("synthesising", done / clips)
        else:
            for args in todo:
                writer.add(_make(args))
                done += 1
                job.progress("synthesising", done / clips)
        complete = True
    finally:  # an interrupted run keeps what it made; a rerun finishes it
        path = writer.finish(complete)
    return path
