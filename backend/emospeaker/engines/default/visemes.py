"""Phones -> viseme classes -> ARKit target poses of the lips and jaw.

Each ARPAbet phone belongs to one viseme class (phones that look alike); each class has a
target pose over the mouth channels (values 0..1, a `*` name stands for its Left and Right
pair) and a dominance: how strongly it pulls the mouth towards its pose against its
neighbours (coarticulation, see `lips`). Lip-closing classes dominate, [h] hardly at all, so
"h" borrows the shape of the vowel after it.

| class | phones                  | pose (main channels)                                    |
|-------|-------------------------|---------------------------------------------------------|
| rest  | SIL                     | all zero: lips together, jaw closed                      |
| breath| (end of a pause)        | jaw and lips part to breathe in before speaking again    |
| PBM   | P B M                   | lips shut (mouthClose = jawOpen), slight press           |
| FV    | F V                     | lower lip rolled under the upper teeth, upper lip up     |
| TH    | TH DH                   | jaw slightly open, tongue tip between the teeth          |
| CDNS  | T D N S Z               | teeth nearly together, lips slightly spread              |
| L     | L                       | jaw a little open (tongue up)                            |
| SH    | SH ZH CH JH             | lips protruded and funnelled                             |
| KG    | K G NG Y                | jaw half-open, lips neutral                              |
| R     | R ER                    | lips rounded a little, funnel                            |
| W     | W                       | lips tightly rounded and puckered                        |
| HH    | HH                      | neutral, opens towards the next vowel                    |
| AA    | AA                      | jaw wide open                                            |
| AE AH EH IH IY | ...            | jaw open to half-open; spread lips part over the teeth   |
| AO UH UW | ...                  | lips round to a narrow opening: funnel (AO), pucker (UW) |

Diphthongs (AW AY EY OW OY) are split into their two parts, each half the duration.

How far each class opens the mouth was measured on real speech rather than guessed
(scripts/fit_visemes.py): the opening of every class was fitted by least squares, drawn
towards the first hand-made values, to the MediaPipe lip aperture of three real talking-head
clips and to the true-phone openings of synthetic speech, then rounded and checked with
scripts/bench_lipsync.py. Real mouths part the lips more on spread vowels (IY, IH, EH, AE)
and less on rounded sounds (UW, W, AO) than the vowel's jaw height alone suggests. On three
other real clips, kept out of the fit, the correlation with the tracked aperture rose from
0.43 to 0.50.
"""

from __future__ import annotations

import numpy as np

from ...channels import expand_pairs, index_of

DIPHTHONGS: dict[str, tuple[str, str]] = {
    "AW": ("AA", "UH"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"),
    "OY": ("AO", "IY"),
}  # fmt: skip

# class -> (dominance, pose)
CLASSES: dict[str, tuple[float, dict[str, float]]] = {
    "rest": (0.6, {}),
    "breath": (0.5, {"jawOpen": 0.25, "mouthLowerDown*": 0.1}),
    "PBM": (1.0, {"jawOpen": 0.06, "mouthClose": 0.06, "mouthPress*": 0.3}),
    "FV": (0.9, {"jawOpen": 0.08, "mouthClose": 0.03, "mouthRollLower": 0.6,
                 "mouthUpperUp*": 0.15}),
    "TH": (0.6, {"jawOpen": 0.18, "tongueOut": 0.35, "mouthUpperUp*": 0.1}),
    "CDNS": (0.45, {"jawOpen": 0.12, "mouthStretch*": 0.15, "mouthUpperUp*": 0.05}),
    "L": (0.35, {"jawOpen": 0.2, "mouthLowerDown*": 0.05}),
    "SH": (0.75, {"jawOpen": 0.2, "mouthFunnel": 0.5, "mouthPucker": 0.3,
                  "mouthUpperUp*": 0.1}),
    "KG": (0.3, {"jawOpen": 0.27, "mouthStretch*": 0.05}),
    "R": (0.55, {"jawOpen": 0.2, "mouthPucker": 0.3, "mouthFunnel": 0.25}),
    "W": (0.85, {"jawOpen": 0.04, "mouthPucker": 0.8, "mouthFunnel": 0.2}),
    "HH": (0.15, {"jawOpen": 0.4, "mouthLowerDown*": 0.1}),
    "AA": (0.6, {"jawOpen": 0.7, "mouthLowerDown*": 0.2, "mouthUpperUp*": 0.05}),
    "AE": (0.6, {"jawOpen": 0.7, "mouthStretch*": 0.25, "mouthLowerDown*": 0.3,
                 "mouthUpperUp*": 0.1}),
    "AH": (0.5, {"jawOpen": 0.45, "mouthLowerDown*": 0.12}),
    "EH": (0.55, {"jawOpen": 0.55, "mouthStretch*": 0.2, "mouthLowerDown*": 0.3}),
    "IH": (0.5, {"jawOpen": 0.33, "mouthStretch*": 0.25, "mouthLowerDown*": 0.12}),
    "IY": (0.6, {"jawOpen": 0.35, "mouthStretch*": 0.4, "mouthSmile*": 0.15,
                 "mouthLowerDown*": 0.2}),
    "AO": (0.65, {"jawOpen": 0.4, "mouthFunnel": 0.45, "mouthPucker": 0.2,
                  "mouthLowerDown*": 0.1}),
    "UH": (0.6, {"jawOpen": 0.2, "mouthPucker": 0.4, "mouthFunnel": 0.3}),
    "UW": (0.75, {"jawOpen": 0.04, "mouthPucker": 0.8, "mouthFunnel": 0.35}),
}  # fmt: skip

PHONE_CLASS: dict[str, str] = {
    "SIL": "rest",
    "P": "PBM", "B": "PBM", "M": "PBM", "F": "FV", "V": "FV", "TH": "TH", "DH": "TH",
    "T": "CDNS", "D": "CDNS", "N": "CDNS", "S": "CDNS", "Z": "CDNS", "L": "L",
    "SH": "SH", "ZH": "SH", "CH": "SH", "JH": "SH", "K": "KG", "G": "KG", "NG": "KG",
    "Y": "KG", "R": "R", "ER": "R", "W": "W", "HH": "HH",
    "AA": "AA", "AE": "AE", "AH": "AH", "EH": "EH", "IH": "IH", "IY": "IY", "AO": "AO",
    "UH": "UH", "UW": "UW",
}  # fmt: skip

# channels a viseme may move (everything else in the lips layer stays 0)
LIP_CHANNELS: tuple[str, ...] = tuple(
    sorted({name for _, pose in CLASSES.values() for name in expand_pairs(pose)}, key=index_of)
)


def _pose_vector(pose: dict[str, float]) -> np.ndarray:
    out = np.zeros(len(LIP_CHANNELS))
    position = {name: i for i, name in enumerate(LIP_CHANNELS)}
    for name, value in expand_pairs(pose).items():
        out[position[name]] = value
    return out


CLASS_NAMES: tuple[str, ...] = tuple(CLASSES)
CLASS_POSES = np.stack([_pose_vector(CLASSES[c][1]) for c in CLASS_NAMES])  # [classes, lips]
CLASS_DOMINANCE = np.array([CLASSES[c][0] for c in CLASS_NAMES])
CLASS_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}


def viseme_class(phone: str) -> str:
    """The viseme class of an ARPAbet phone (unknown phones look like a neutral vowel)."""
    return PHONE_CLASS.get(phone, "AH")
