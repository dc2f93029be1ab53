"""FaceTrack <-> npz: compact and exact, for numpy users and training caches."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ..track import FaceTrack
from .metadata import check_header, fps_of, header

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry


def write(track: FaceTrack, path: Path) -> None:
    arrays = {f"layer/{name}": values for name, values in track.layers.items()}
    if track.emotion is not None:
        arrays["emotion"] = track.emotion
    arrays = {"header": np.array(json.dumps(header(track))), **arrays}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, values in arrays.items():
            # what np.savez_compressed writes, minus its clock time: same track, same bytes
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(values), allow_pickle=False)


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
