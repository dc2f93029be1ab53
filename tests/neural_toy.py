"""A toy corpus for the neural-engine tests: harmonic 'syllables' whose loudness drives the
jaw, whose pitch and rate depend on the emotion, with AUs per emotion. Seconds to build, and
learnable, so a test can see a loss fall without synthesising speech."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.emotion import EMOTIONS
from emospeaker.train.corpus import Clip, CorpusWriter

AU_NAMES = ("AU1", "AU4", "AU6", "AU12", "AU15")
JAW, SMILE, PITCH = index_of("jawOpen"), index_of("mouthSmileLeft"), index_of("headPitch")


def toy_clip(i: int, emotion: str, level: int, rng: np.random.Generator, fps=Fraction(30)):
    k = EMOTIONS.index(emotion)
    seconds = 1.6 + 0.4 * rng.random()
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    rate = 3.0 + 0.3 * k
    envelope = np.clip(np.sin(2 * np.pi * rate * t + rng.random() * 6), 0, None) ** 2
    f0 = 110 + 15 * k + 10 * level
    audio = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6)) * envelope * 0.2
    frames = int(np.ceil(seconds * fps))
    ft = np.arange(frames) / float(fps)
    env_f = np.interp(ft, t, envelope)
    layers = {
        name: np.zeros((frames, len(ALL_CHANNELS)), np.float32)
        for name in ("lips", "emotion", "head", "eyes")
    }
    layers["lips"][:, JAW] = 0.6 * env_f
    intensity = level / 3
    layers["emotion"][:, SMILE] = 0.5 * intensity * (emotion == "happy")
    layers["emotion"][:, index_of("browDownLeft")] = 0.4 * intensity * (emotion == "angry")
    layers["head"][:, PITCH] = 0.05 * np.sin(2 * np.pi * 0.5 * ft) * (1 + k / 8)
    aus = np.zeros((frames, len(AU_NAMES)), np.float32)
    aus[:, k % len(AU_NAMES)] = intensity
    return Clip(
        id=f"toy{i:04d}",
        audio=audio.astype(np.float32),
        fps=fps,
        layers=layers,
        aus=aus,
        emotion=emotion,
        intensity=intensity,
        level=level,
        speaker="toy",
        split="val" if i % 8 == 7 else "train",
        phones=[(0.1, 0.2, "m")],
    )


def make_toy_corpus(root: Path, clips: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    writer = CorpusWriter(root, AU_NAMES, {"source": "toy", "seed": seed})
    for i in range(clips):
        writer.add(toy_clip(i, EMOTIONS[i % 8], 1 + (i // 8) % 3, rng))
    writer.finish()
    return root
