"""The canonical face frame that the head, its shapes, poses and fitting agree on.

Frame: metres; origin midway between the eyeball centres; +x the character's left, +y up,
+z out of the face (glTF's convention, so exports need no conversion). The face model
(`face.model`, ICT FaceKit) is stored in this frame.
"""

from __future__ import annotations

import numpy as np

# head pose: rotations turn the head about this point (upper neck, inside ICT's neck)
HEAD_PIVOT = np.array([0.0, -0.075, -0.070])

# eye rotation of eyeLook* at weight 1 (ICT's eyeLook* shapes move only the lids: the
# eyeballs and irises turn by this angle, up: 20 degrees)
GAZE_ANGLE = np.radians(26.0)
