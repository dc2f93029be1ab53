"""Animate on a remote backend with the package's own types (EmotionTimeline, FaceTrack).

`emospeaker.client` is the dependency-free client (what the Blender add-on bundles); this
module adds what needs numpy: requests from an EmotionTimeline and the result as a FaceTrack,
bit-identical to what `emospeaker.api.animate` gives locally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .emotion import EmotionTimeline
from .errors import Cancelled, EmoSpeakerError, InputError
from .jobs import Job
from .server.convert import (
    fps_to_wire,
    poses_to_wire,
    set_floats,
    timeline_to_wire,
    track_from_events,
)
from .track import DEFAULT_FPS, FaceTrack, parse_fps
from .wire import emospeaker_pb2 as pb
from .wire.client import Client, ClientError, InvalidRequest, LimitExceeded, audio_file

__all__ = ["RemoteError", "animate_remote", "remote_request"]


class RemoteError(EmoSpeakerError):
    """The server refused or failed a call (the message carries its status)."""


def remote_request(
    audio: str | os.PathLike[str],
    emotion: EmotionTimeline | np.ndarray | None = None,
    *,
    fps: Any = DEFAULT_FPS,
    start_frame: int = 0,
    transcript: str | None = None,
    engine: str = "default",
    seed: int = 0,
    options: dict[str, Any] | None = None,
    emotion_poses: dict[str, dict[str, float]] | None = None,
) -> pb.AnimateRequest:
    """The AnimateRequest equivalent to `api.animate(load_audio(audio), emotion, ...)`."""
    request = pb.AnimateRequest(
        audio=audio_file(audio, name=str(Path(audio))),
        fps=fps_to_wire(parse_fps(fps)),
        start_frame=int(start_frame),
        transcript=transcript or "",
        engine=engine,
        options={k: str(v) for k, v in (options or {}).items()},
        seed=int(seed),
        emotion_poses=poses_to_wire(emotion_poses),
    )
    if isinstance(emotion, np.ndarray):
        request.curves.frames = len(emotion)
        set_floats(request.curves, "values", emotion)
    elif emotion is not None and emotion.keys:
        request.keys.CopyFrom(timeline_to_wire(emotion))
    return request


def animate_remote(
    client: Client,
    request: pb.AnimateRequest,
    *,
    job: Job | None = None,
    timeout: float | None = None,
) -> FaceTrack:
    """Run Animate on the server; progress drives `job`, and cancelling `job` (or Ctrl-C)
    cancels the call."""
    job = job or Job()
    stream = client.animate(request, timeout=timeout, cancel_event=job.cancel_event)
    events = []
    with call_errors(stream, job):
        for event in stream:
            if isinstance(event, pb.Progress):
                job.progress(event.stage, event.fraction)
            elif not isinstance(event, pb.FrameChunk):  # the track is built from the layers
                events.append(event)
    return track_from_events(events)


def connect(address: str, **options: Any) -> Client:
    """A Client for a `--server` address; one that is malformed or does not resolve is an
    InputError naming the field `server`, as any other bad argument."""
    try:
        return Client(address, **options)
    except InvalidRequest as exc:
        raise InputError(str(exc), field="server") from None


@contextmanager
def call_errors(stream: Any, job: Job) -> Iterator[None]:
    """Inside: a server call's failures as the local ones (InputError, Cancelled,
    RemoteError); a local cancel or Ctrl-C cancels the call."""
    try:
        yield
    except (Cancelled, KeyboardInterrupt):
        stream.cancel()
        raise
    except (InvalidRequest, LimitExceeded) as exc:
        raise InputError(str(exc), field=exc.field) from None
    except ClientError as exc:
        if exc.code == "CANCELLED" and job.cancelled:
            raise Cancelled("cancelled by the caller") from None
        raise RemoteError(str(exc)) from None
