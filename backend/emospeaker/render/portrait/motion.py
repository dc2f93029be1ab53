"""FaceTrack -> where the portrait's landmarks go in each frame (canvas pixels).

The face model is fitted to the photo's landmarks (pose, weights and the face's own neutral
shape), then driven by the track. The photo is the rest pose: the track's weights add to the
photo's (a single photo's fit also holds some of the person's own features, which must stay),
except the channels that decide whether the lips meet, which the track sets outright so that
an open-mouthed photo still closes for p, b and m. Head channels turn the head relative to the
photo's pose. With a still track the landmarks are exactly the detected ones (for a closed
mouth).
"""

from __future__ import annotations

import numpy as np

from ...channels import ARKIT_BLENDSHAPES, HEAD_CHANNELS
from ...face.fit import fit_image
from ...track import FaceTrack

ABSOLUTE = ("jawOpen", "mouthClose")  # set by the track, not added to the photo's


def face_motion(landmarks: np.ndarray, track: FaceTrack) -> np.ndarray:
    """[frames, 478, 2] landmark positions for `track`, starting from the photo's `landmarks`
    [478, 3] (pixels of the canvas)."""
    fit = fit_image(landmarks)
    values = track.values
    columns = {name: i for i, name in enumerate(track.channels)}
    weights = _columns(values, columns, ARKIT_BLENDSHAPES)
    relative = np.array([name not in ABSOLUTE for name in ARKIT_BLENDSHAPES])
    weights[:, relative] += fit.weights[relative]
    head = _columns(values, columns, HEAD_CHANNELS)
    return fit.landmarks(np.clip(weights, 0, 1), head)[..., :2].astype(np.float32)


def _columns(values: np.ndarray, columns: dict[str, int], names: tuple[str, ...]) -> np.ndarray:
    """The named channels of `values` (zero where the track lacks one)."""
    out = np.zeros((len(values), len(names)), np.float64)
    for j, name in enumerate(names):
        if name in columns:
            out[:, j] = values[:, columns[name]]
    return out
