"""FaceTrack -> where the portrait's landmarks go in each frame (canvas pixels).

The face model is fitted to the photo's landmarks (pose, weights and the face's own neutral
shape), then driven by the track. The photo is the rest pose: the track's weights add to the
photo's (a single photo's fit also holds some of the person's own features, which must stay),
except the channels that decide whether the lips meet, which the track sets outright so that
an open-mouthed photo still closes for p, b and m. Head channels turn the head relative to the
photo's pose. With a still track the landmarks are exactly the detected ones (for a closed
mouth).

One calibration: the model's eyeBlink = 1 leaves part of a real eye open (its lids travel a
fixed distance; photographed eyes, magnified by glasses or wide open, need more; on the
matplotlib portrait it closes under half the gap). So the blink alone is redrawn: the upper
lid sits where every other channel puts it (a squint narrows, a look down lowers the lid, as
the model says) and the track's blink lowers it from there onto the lower lid, the fraction
the track asks for (0.25 covers a quarter of the gap, 1 shuts it). Scaling the whole closing
instead would also magnify the emotions' squints and looks down, by a different factor per
eye for an asymmetric photo (one eye half shut), and the photo's own blink weight would make
the track's quarter blink read as closed lids.

And the jaw carries the lower lip as one band. The model's landmark motion for the jaw is where
MediaPipe sees the lips' contours on the face model's renders: its inner edge slides over the
lip as the mouth opens (about 2 mm further down than the vermilion border at jawOpen 1), which
a warp of the photo would read as the lower lip thinning by a sixth. So for the jaw channels
every ring of the lower lip moves with its column's outer point: the photographed lip keeps its
thickness, and its lip channels (a roll, a pout) still shape it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...channels import ARKIT_BLENDSHAPES
from ...face.fit import FaceFit, fit_image
from ...face.tracks import track_arrays
from ...track import FaceTrack
from . import topology as tp

ABSOLUTE = ("jawOpen", "mouthClose")  # set by the track, not added to the photo's
BLINKS = ("eyeBlinkRight", "eyeBlinkLeft")  # the eyes of tp.EYES, in its order
JAW = ("jawOpen", "jawForward", "jawLeft", "jawRight")  # carry the lower lip as one band


def face_channels(fit: FaceFit, track: FaceTrack) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's ARKit weights [frames, 52] (the photo's plus the track's, see the module
    docstring) and head channels [frames, 6] (relative to the photo's pose)."""
    weights, head = (a.astype(np.float64) for a in track_arrays(track))
    relative = np.array([name not in ABSOLUTE for name in ARKIT_BLENDSHAPES])
    weights[:, relative] += fit.weights[relative]
    return np.clip(weights, 0, 1), head


def face_motion(landmarks: np.ndarray, track: FaceTrack, fit: FaceFit | None = None) -> np.ndarray:
    """[frames, 478, 2] landmark positions for `track`, starting from the photo's `landmarks`
    [478, 3] (pixels of the canvas) or, when given, their `fit`."""
    fit = lower_lip_band(fit or fit_image(landmarks))
    weights, head = face_channels(fit, track)
    targets = fit.landmarks(weights, head)[..., :2]
    blinks = [ARKIT_BLENDSHAPES.index(name) for name in BLINKS]
    unblinked = weights.copy()
    unblinked[:, blinks] = fit.weights[blinks]  # the photo's own lids, the track's emotion
    opened = fit.landmarks(unblinked, head)[..., :2]
    blink = np.clip(track_arrays(track)[0][:, blinks], 0, 1)
    _blink_lids(targets, opened, blink)
    return targets.astype(np.float32)


def lower_lip_band(fit: FaceFit) -> FaceFit:
    """`fit` with the jaw channels moving each lower-lip ring with its outer point (see the
    module docstring); its neutral compensates, so the photo's own weights still give exactly
    the photo's landmarks."""
    model = fit.model
    deltas = model.deltas.copy()
    jaw = [ARKIT_BLENDSHAPES.index(name) for name in JAW]
    outer = list(tp.LOWER_LIP_RINGS[0])
    for ring in tp.LOWER_LIP_RINGS[1:]:
        deltas[np.ix_(jaw, ring)] = model.deltas[np.ix_(jaw, outer)]
    neutral = fit.neutral - np.einsum("k,kpd->pd", fit.weights, deltas - model.deltas)
    return dataclasses.replace(
        fit, model=dataclasses.replace(model, deltas=deltas), neutral=neutral
    )


def _blink_lids(targets: np.ndarray, opened: np.ndarray, blink: np.ndarray) -> None:
    """Set each eye's upper lid in `targets` [F, 478, 2] (in place) the fraction `blink`
    [F, eyes] of the way from its place without the track's blink (`opened`, [F, 478, 2])
    onto the frame's lower lid (see the module docstring)."""
    for side, (eye, _) in enumerate(tp.EYES):
        upper, lower = list(eye[1:8]), list(eye[9:][::-1])  # paired outer -> inner
        keep = (1 - blink[:, side])[:, None, None]
        targets[:, upper] = targets[:, lower] + (opened[:, upper] - opened[:, lower]) * keep


def _gap(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Mean distance between paired lid points [..., 7, 2]."""
    return np.linalg.norm(upper - lower, axis=-1).mean(axis=-1)
