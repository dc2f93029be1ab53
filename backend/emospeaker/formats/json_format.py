"""FaceTrack <-> JSON: human-readable, exact, and sparse.

Each layer stores only the channels it uses. Values are written as the float64 repr of the
float32 numbers, which reads back bit-exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..track import FaceTrack
from .metadata import check_header, fps_of, header


def to_dict(track: FaceTrack) -> dict[str, Any]:
    doc = header(track)
    doc["layers"] = {name: _sparse(values, track.channels) for name, values in track.layers.items()}
    doc["emotion"] = None if track.emotion is None else track.emotion.tolist()
    return doc


def from_dict(doc: dict[str, Any]) -> FaceTrack:
    check_header(doc)
    channels = tuple(doc["channels"])
    frames = int(doc["frames"])
    layers = {name: _dense(layer, channels, frames) for name, layer in doc["layers"].items()}
    emotion = doc.get("emotion")
    return FaceTrack(
        fps=fps_of(doc),
        layers=layers,
        channels=channels,
        start_frame=doc.get("start_frame", 0),
        emotion=None if emotion is None else np.asarray(emotion, dtype=np.float32),
        provenance=doc.get("provenance", {}),
    )


def write(track: FaceTrack, path: Path) -> None:
    path.write_text(json.dumps(to_dict(track), separators=(",", ":")))


def read(path: Path) -> FaceTrack:
    return from_dict(json.loads(path.read_text()))


def _sparse(values: np.ndarray, channels: tuple[str, ...]) -> dict[str, Any]:
    used = np.flatnonzero(np.any(values != 0, axis=0))
    return {"channels": [channels[i] for i in used], "values": values[:, used].tolist()}


def _dense(layer: dict[str, Any], channels: tuple[str, ...], frames: int) -> np.ndarray:
    out = np.zeros((frames, len(channels)), dtype=np.float32)
    if layer["channels"]:
        cols = [channels.index(c) for c in layer["channels"]]
        out[:, cols] = np.asarray(layer["values"], dtype=np.float32).reshape(frames, len(cols))
    return out
