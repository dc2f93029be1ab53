"""A FaceTrack in plain Python (array('f'), row-major), assembled from Animate events."""

from __future__ import annotations

import json
from array import array
from dataclasses import dataclass, field
from typing import Any

from . import emospeaker_pb2 as pb
from .errors import ClientError
from .packed import append_floats, array_bytes, float_array


@dataclass
class Track:
    """A FaceTrack in plain Python: every matrix is a row-major `array('f')`.

    `values` are the combined frames (sum of layers, blendshapes clamped) as sent by the
    server; `layers[name]` are the additive parts, dense [frames, len(channels)].
    """

    channels: list[str]
    fps: tuple[int, int]
    start_frame: int
    frames: int
    layers: dict[str, array]
    values: array
    emotions: list[str] = field(default_factory=list)
    emotion: array | None = None  # [frames, len(emotions)]
    provenance: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # server time

    @property
    def fps_float(self) -> float:
        return self.fps[0] / self.fps[1]

    @property
    def duration(self) -> float:
        return self.frames * self.fps[1] / self.fps[0]

    def column(self, channel: str, layer: str | None = None) -> array:
        """One channel over all frames: combined values, or of one layer."""
        data = self.values if layer is None else self.layers[layer]
        return data[self.channels.index(channel) :: len(self.channels)]

    def emotion_column(self, category: str) -> array:
        if self.emotion is None:
            return array("f", bytes(4 * self.frames))
        return self.emotion[self.emotions.index(category) :: len(self.emotions)]


class TrackAssembler:
    """Feeds on Animate events (in any chunking) and builds a `Track`."""

    def __init__(self) -> None:
        self.header: pb.TrackHeader | None = None
        self.summary: pb.Summary | None = None
        self._values: array | None = None
        self._layers: dict[str, array] = {}
        self._columns: dict[str, int] = {}

    def add(self, event: Any) -> None:
        if isinstance(event, pb.TrackHeader):
            self.header = event
            self._columns = {name: i for i, name in enumerate(event.channels)}
            size = event.frames * len(event.channels)
            self._values = array("f", bytes(4 * size))
            self._layers = {name: array("f", bytes(4 * size)) for name in event.layers}
        elif isinstance(event, pb.FrameChunk):
            width = self._width()
            start = event.first_frame * width
            self._values[start : start + event.frames * width] = float_array(event, "values")
        elif isinstance(event, pb.LayerChunk):
            self._add_layer(event)
        elif isinstance(event, pb.Summary):
            self.summary = event

    def _width(self) -> int:
        if self.header is None:
            raise ClientError("DATA_LOSS", "the server sent frames before the track header")
        return len(self.header.channels)

    def _add_layer(self, chunk: pb.LayerChunk) -> None:
        width = self._width()
        if chunk.layer not in self._layers:
            self._layers[chunk.layer] = array("f", bytes(4 * width * self.header.frames))
        dense = self._layers[chunk.layer]
        values = float_array(chunk, "values")
        present = len(chunk.channels)
        start = chunk.first_frame * width
        stop = (chunk.first_frame + chunk.frames) * width
        for i, name in enumerate(chunk.channels):
            if name not in self._columns:
                raise ClientError(
                    "DATA_LOSS", f"layer {chunk.layer!r} has unknown channel {name!r}"
                )
            col = self._columns[name]
            dense[start + col : stop : width] = values[i::present]

    def track(self) -> Track:
        if self.header is None or self.summary is None:
            raise ClientError("DATA_LOSS", "the stream ended before the track was complete")
        h, s = self.header, self.summary
        return Track(
            channels=list(h.channels),
            fps=(h.fps.num, h.fps.den or 1),
            start_frame=h.start_frame,
            frames=h.frames,
            layers=self._layers,
            values=self._values,
            emotions=list(s.emotions),
            emotion=float_array(s, "emotion") if len(s.emotion) else None,
            provenance=json.loads(s.provenance_json) if s.provenance_json else {},
            seconds=s.seconds,
        )


def track_message(track: Track, frames_per_chunk: int = 4096) -> pb.Track:
    """A `Track` as the wire's Track (for Render), leaving out all-zero channels."""
    width = len(track.channels)
    header = pb.TrackHeader(
        channels=track.channels,
        fps=pb.Rational(num=track.fps[0], den=track.fps[1]),
        start_frame=track.start_frame,
        frames=track.frames,
        layers=list(track.layers),
    )
    out = pb.Track(header=header, provenance_json=json.dumps(track.provenance))
    if track.emotion is not None:
        append_floats(out, "emotion", array_bytes(track.emotion))
    for name, data in track.layers.items():
        for first in range(0, track.frames, frames_per_chunk):
            n = min(frames_per_chunk, track.frames - first)
            rows = data[first * width : (first + n) * width]
            cols = [c for c in range(width) if rows[c::width].count(0.0) != n]
            chunk = pb.LayerChunk(layer=name, first_frame=first, frames=n)
            chunk.channels.extend(track.channels[c] for c in cols)
            values = array("f", bytes(4 * n * len(cols)))
            for i, c in enumerate(cols):
                values[i :: len(cols)] = rows[c::width]
            append_floats(chunk, "values", array_bytes(values))
            out.layers.append(chunk)
    return out
