"""Encode frames (+ the speech) as an H.264/AAC mp4, atomically.

The file appears only when encoding finished: a failure or a cancel leaves nothing behind.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..audio import SAMPLE_RATE, Audio
from ..files import atomic_output
from ..jobs import Job


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: Fraction,
    audio: Audio | None = None,
    *,
    total: int | None = None,
    crf: int = 18,
    job: Job | None = None,
) -> Path:
    """Write RGB uint8 frames [H, W, 3] (even H and W) at `fps`, muxing `audio` if given.

    `total` (the frame count, if known) lets progress be reported through `job`.
    """
    with atomic_output(path) as tmp:
        _encode(tmp, frames, Fraction(fps), audio, total, crf, job or Job())
    return Path(path)


def _encode(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: Fraction,
    audio: Audio | None,
    total: int | None,
    crf: int,
    job: Job,
) -> None:
    images = iter(frames)
    first = next(images, None)
    if first is None:
        raise ValueError("no frames to encode")
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": str(crf), "preset": "veryfast"}
        sound = _add_audio(out) if audio is not None else None  # streams precede any packet
        for i, image in enumerate(itertools.chain([first], images)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            out.mux(video.encode(frame))
            if total:
                job.progress("encoding", (i + 1) / total)
            else:
                job.check()
        out.mux(video.encode(None))
        if sound is not None:
            frame = av.AudioFrame.from_ndarray(
                audio.samples.reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = SAMPLE_RATE
            frame.pts = 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))


def _add_audio(out: av.container.OutputContainer) -> av.audio.stream.AudioStream:
    stream = out.add_stream("aac", rate=SAMPLE_RATE)
    stream.layout = "mono"
    return stream
