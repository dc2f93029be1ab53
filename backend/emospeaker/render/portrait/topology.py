"""Named landmark sets of the MediaPipe face mesh (478 points) used by the photo renderer.

Loops are ordered around their contour; a test checks them against MediaPipe's own
connection sets.
"""

from __future__ import annotations

FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# inner lip contour: upper lip left corner -> right corner, then lower lip back
LIPS_INNER = (
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
)  # fmt: skip
LIPS_OUTER = (
    61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146,
)  # fmt: skip
# the lower lip's landmark rings, outer (the vermilion border) to inner (the slit), each from
# image left to right without the corners: the columns line up across the rings
LOWER_LIP_RINGS = (
    (146, 91, 181, 84, 17, 314, 405, 321, 375),
    (77, 90, 180, 85, 16, 315, 404, 320, 307),
    (96, 89, 179, 86, 15, 316, 403, 319, 325),
    (95, 88, 178, 87, 14, 317, 402, 318, 324),
)
MOUTH_CORNERS = (78, 308)  # inner corners, image left then right
UPPER_LIP_MID, LOWER_LIP_MID = 13, 14
CHIN = 152

# eye openings (lid margins): outer corner, upper lid, inner corner, lower lid
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
RIGHT_IRIS = (468, 469, 470, 471, 472)  # centre first; the subject's right = image left
LEFT_IRIS = (473, 474, 475, 476, 477)
EYES = ((RIGHT_EYE, RIGHT_IRIS), (LEFT_EYE, LEFT_IRIS))

# points that move with the skull and hardly with expression: nose bridge and tip, inner and
# outer eye corners, temples, upper forehead; a rigid fit to them gives the head's motion
STABLE = (6, 168, 197, 195, 5, 4, 1, 33, 133, 362, 263, 127, 356, 234, 454, 10, 151, 9, 108, 337)

CHEEKS = (205, 425)  # middle of each cheek, below the cheekbone: a clean skin sample

SKIN_LANDMARKS = 468  # 0..467 carry the skin; 468.. are the irises
