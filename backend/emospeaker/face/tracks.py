"""A FaceTrack's values as the face model's arrays: blendshape weights and head channels."""

from __future__ import annotations

import numpy as np

from ..channels import ARKIT_BLENDSHAPES, HEAD_CHANNELS
from ..track import FaceTrack


def track_arrays(track: FaceTrack) -> tuple[np.ndarray, np.ndarray]:
    """(weights [frames, 52] in ARKit order, head [frames, 6]) of a track's combined values.

    Channels a track lacks are zero, so tracks with a subset of channels work as well.
    """
    values = track.values
    index = {name: i for i, name in enumerate(track.channels)}

    def columns(names: tuple[str, ...]) -> np.ndarray:
        out = np.zeros((track.frames, len(names)), np.float32)
        for j, name in enumerate(names):
            if name in index:
                out[:, j] = values[:, index[name]]
        return out

    return columns(ARKIT_BLENDSHAPES), columns(HEAD_CHANNELS)
