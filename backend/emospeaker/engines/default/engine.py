"""INTERIM skeleton of the default engine (loudness -> jaw) so the pipeline runs end to end.

Replaced by the full pass chain of the "Animate speech with emotion" issue.
"""

from __future__ import annotations

import numpy as np

from ...audio import SAMPLE_RATE
from ...channels import ALL_CHANNELS, index_of
from ...jobs import Job
from ...track import ENGINE_LAYERS, FaceTrack
from ..base import Engine, EngineInput


class DefaultEngine(Engine):
    name = "default"
    version = "0.0.1"
    description = "rule-based, no weights (interim loudness skeleton)"

    def animate(self, request: EngineInput, job: Job) -> FaceTrack:
        job.progress("loudness", 0.0)
        times = np.arange(request.frames) / float(request.fps)
        centers = (times * SAMPLE_RATE).astype(int)
        half = SAMPLE_RATE // 50
        samples = request.audio.samples
        rms = np.array(
            [np.sqrt(np.mean(samples[max(0, c - half) : c + half] ** 2) + 1e-12) for c in centers]
        )
        layers = {
            name: np.zeros((request.frames, len(ALL_CHANNELS)), np.float32)
            for name in ENGINE_LAYERS
        }
        layers["lips"][:, index_of("jawOpen")] = np.clip(rms / (rms.max() + 1e-9), 0, 1)
        job.progress("loudness", 1.0)
        return FaceTrack(
            request.fps, layers, start_frame=request.start_frame, emotion=request.emotion
        )
