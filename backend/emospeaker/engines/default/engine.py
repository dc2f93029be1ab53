"""The default engine: a chain of small passes over plain arrays, needing no weights.

audio ──► prosody (level, loudness, pitch, pauses)          speech.prosody
      ──► phones (aligned to the transcript, or recognised)  timing
      ──► lips: visemes, coarticulation, loudness, closures  lips / visemes
      ──► emotion: FACS prototypes, masked at closures       emotion
      ──► head: nods, tilts, drift, brow accents             head
      ──► eyes: blinks, gaze                                 eyes
      ──► FaceTrack(layers lips, emotion, head, eyes)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...jobs import Job
from ...speech.phones import PhoneSegment
from ...speech.prosody import Prosody, analyse
from ...speech.recognize import FAST, STANDARD
from ...track import FaceTrack
from ..base import Engine, EngineInput, Option
from .emotion import emotion_layer
from .eyes import eyes_layer
from .head import head_layer
from .lips import lips_layer
from .timing import find_phones

MOUTH_LEAD = 0.03  # s: mouths move slightly before the sound they make (see lips.SMOOTHING)


class DefaultEngine(Engine):
    name = "default"
    version = "1.3.0"
    description = (
        "rule-based, no weights: pocketsphinx phones -> visemes with coarticulation, "
        "FACS emotion, prosodic head and brows, blinks and gaze"
    )
    supports_emotion_poses = True
    options = {
        "lip_gain": Option(1.0, "scale of jaw and lip opening", 0.0, 2.0),
        "mouth_lead": Option(MOUTH_LEAD, "seconds the mouth moves ahead of the sound", -0.2, 0.2),
        "head_motion": Option(1.0, "amount of head motion and prosodic brow raises", 0.0, 3.0),
        "blink_rate": Option(1.0, "blink rate relative to the emotion's natural rate", 0.0, 4.0),
        "recognizer": Option(
            "standard",
            "phone recognition without a transcript: standard, or fast (a third faster, "
            "less accurate)",
            choices=("standard", "fast"),
        ),
    }

    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        options = request.options  # api.animate resolved them against self.options
        samples = request.audio.samples
        times = np.arange(request.frames, dtype=np.float64) / float(request.fps)
        job.progress("prosody", 0.0)
        prosody = analyse(samples)
        settings = FAST if options["recognizer"] == "fast" else STANDARD
        timing = find_phones(samples, prosody, request.transcript, settings, job.part(0.02, 0.9))
        job.progress("layers", 0.9)
        layers = compose_layers(
            timing.phones, prosody, times, request.audio.duration, request.emotion,
            request.seed, options, request.emotion_poses,
        )  # fmt: skip
        job.progress("done", 1.0)
        provenance: dict[str, Any] = {
            "phones": timing.method,
            "phone_count": sum(p.phone != "SIL" for p in timing.phones),
        }
        return FaceTrack(
            request.fps,
            layers,
            start_frame=request.start_frame,
            emotion=request.emotion,
            provenance=provenance,
        )


def compose_layers(
    phones: list[PhoneSegment],
    prosody: Prosody,
    times: np.ndarray,
    duration: float,
    curves: np.ndarray,
    seed: int,
    options: dict[str, Any],
    emotion_poses: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The four passes for known phones (the synthetic training corpus makes its targets here
    too, so the neural engine learns exactly what this engine does). `emotion_poses` replace
    the built-in emotion prototypes (see emotion.emotion_layer)."""
    loudness = prosody.sample("loudness", times + options["mouth_lead"])
    lips, closures = lips_layer(phones, times, loudness, options["lip_gain"], options["mouth_lead"])
    return {
        "lips": lips,
        "emotion": emotion_layer(
            curves, closures, prosody.sample("speaking", times), emotion_poses
        ),
        "head": head_layer(prosody, times, curves, seed, options["head_motion"]),
        "eyes": eyes_layer(times, duration, curves, prosody.pauses, seed, options["blink_rate"]),
    }
