"""FaceTrack <-> npz: compact and exact, for numpy users and training caches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..track import FaceTrack
from .metadata import check_header, fps_of, header


def write(track: FaceTrack, path: Path) -> None:
    arrays = {f"layer/{name}": values for name, values in track.layers.items()}
    if track.emotion is not None:
        arrays["emotion"] = track.emotion
    with path.open("wb") as f:  # a file object keeps numpy from appending ".npz"
        np.savez_compressed(f, header=np.array(json.dumps(header(track))), **arrays)


def read(path: Path) -> FaceTrack:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["header"]))
        check_header(meta)
        layers = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("layer/")}
        emotion = data["emotion"] if "emotion" in data.files else None
    return FaceTrack(
        fps=fps_of(meta),
        layers=layers,
        channels=tuple(meta["channels"]),
        start_frame=meta.get("start_frame", 0),
        emotion=emotion,
        provenance=meta.get("provenance", {}),
    )
