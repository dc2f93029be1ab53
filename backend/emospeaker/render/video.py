"""Encode frames (+ the speech) as H.264/AAC video, atomically.

The container follows the file's extension (mp4, mov or mkv); any other extension is refused
before any work, so `-o x.avi` never writes an mp4 under an .avi name. The file appears only
when encoding finished: a failure or a cancel leaves nothing behind.
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
from ..errors import InputError
from ..files import atomic_output
from ..jobs import Job

# extension -> FFmpeg container: those that hold H.264 video and AAC sound
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
MIME_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "matroska": "video/x-matroska"}


def container_for(path: str | os.PathLike[str], only: str | None = None) -> str:
    """The container a video file's extension asks for; any other extension (or, with
    `only`, one of another container, e.g. for the mp4 a server sends) is an error that
    lists the allowed ones."""
    suffix = Path(path).suffix.lower()
    allowed = [s for s, c in CONTAINERS.items() if only is None or c == only]
    if suffix not in allowed:
        what = f" (the server sends {only})" if only else " (H.264 + AAC)"
        raise InputError(
            f"{path}: cannot write {suffix or 'a file without an extension'} video; use one "
            f"of {', '.join(allowed)}{what}",
            field="output",
        )
    return CONTAINERS[suffix]


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
    container = container_for(path)
    with atomic_output(path) as tmp:
        _encode(tmp, container, frames, Fraction(fps), audio, total, crf, job or Job())
    return Path(path)


def _encode(
    path: Path,
    container: str,
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
    options = {"movflags": "+faststart"} if container in ("mp4", "mov") else {}
    with av.open(str(path), mode="w", format=container, options=options) as out:
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
