"""The canonical face frame and the anatomy that the head, its shapes and fitting agree on.

Frame: metres; origin midway between the eyeball centres; +x the character's left, +y up,
+z out of the face (glTF's convention, so exports need no conversion). Points are given
for the character's LEFT side; the right side mirrors x.
"""

from __future__ import annotations

import numpy as np


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Reflect points (or vectors) across the face's mid-sagittal plane."""
    return np.asarray(points) * np.array([-1.0, 1.0, 1.0])


# eyes
EYE_CENTER = np.array([0.032, 0.0, 0.0])
EYE_RADIUS = 0.0122
LID_RADIUS = 0.0134  # lid skin slides over the eyeball on this sphere
IRIS_ANGLE = 0.50  # half-angle of the iris seen from the eye centre (radians)
PUPIL_ANGLE = 0.17
EYE_INNER_CORNER = np.array([0.0196, -0.0010])  # (x, y) of the palpebral fissure's ends
EYE_OUTER_CORNER = np.array([0.0446, 0.0014])
UPPER_LID_OPENING = 0.0050  # lid margin height above the corner line at its highest
LOWER_LID_OPENING = 0.0042
GAZE_ANGLE = np.radians(26.0)  # eye rotation of eyeLook* at weight 1 (up: 20 degrees)

# mouth and jaw
MOUTH_CORNER = np.array([0.0245, -0.0742, 0.0045])
STOMION = np.array([0.0, -0.0750, 0.0185])  # where the lips meet, on the midline
JAW_HINGE = np.array([0.050, -0.014, -0.072])  # temporomandibular joint (left)
JAW_OPEN_ANGLE = np.radians(21.0)  # jaw rotation of jawOpen at weight 1

# head pose: rotations turn the head about this point (upper neck)
HEAD_PIVOT = np.array([0.0, -0.075, -0.070])

# centre of the rays that sample the skin surface
RAY_CENTER = np.array([0.0, 0.0, -0.050])
