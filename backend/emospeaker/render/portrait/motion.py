"""FaceTrack -> where the portrait's landmarks go in each frame (canvas pixels)."""

from __future__ import annotations

import numpy as np

from ...track import FaceTrack


def face_motion(landmarks: np.ndarray, track: FaceTrack) -> np.ndarray:
    """[frames, 478, 2] landmark positions for `track`, starting from the photo's `landmarks`."""
    raise NotImplementedError("waiting for the face model (branch face)")
