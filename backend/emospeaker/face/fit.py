"""Fitting (a 3DMM fit): MediaPipe landmarks -> head pose, identity and ARKit weights.

Observed landmarks (pixels) are modelled as a similarity transform of the face model (ICT
FaceKit sampled at the landmarks, `emospeaker.face.expression`):
    points ~= s * R @ (neutral + identities . a + deltas . w) + t,    0 <= w <= 1,
with the identity weights `a` under ICT's prior (unit normal: a person is a few standard
deviations from the mean face at most). Pose, identity and weights are solved alternately: a
weighted Procrustes (Umeyama) fit of the pose that trusts the points expressions move least,
then identity and weights by a box-constrained, regularised least squares in the face frame
(ADMM). Landmarks the correspondence could not pin to one surface point (the face's outline,
which follows the silhouette) count little in both. For video the identity is one for the whole
clip (solved from all frames at once) and pose and weights are per frame; they are then smoothed
in time (a closed-form acceleration penalty, the same cut-off for every shape), and the clip's
residual shape (the part of its median residual that neither identity nor expression explains:
how MediaPipe's points on this face differ from ICT's) joins the neutral.

A single photo is never neutral: `fit_image` returns its weights and `neutral`, the photo's
own shape with the fitted expression removed, so `FaceFit.landmarks(weights, head)` drives
the photographed face itself and reproduces it exactly at its own weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.fft import dct, idct

from ..channels import ALL_CHANNELS, ARKIT_BLENDSHAPES, HEAD_CHANNELS
from ..errors import InputError
from ..jobs import Job
from ..track import FaceTrack
from . import DEFAULT_SMOOTHING
from .anatomy import HEAD_PIVOT
from .expression import ExpressionModel, expression_model
from .landmarks import NUM_LANDMARKS, VideoLandmarks
from .pose import head_angles

FITTER_VERSION = "2.0"  # 2: ICT FaceKit with identity (1: the procedural head)
Z_WEIGHT = 0.5  # MediaPipe's depth is less certain than its image coordinates
RIDGE = 2.0  # weight prior (mm^2 per unit weight^2): keeps shapes without evidence at 0
SPARSITY = 0.25  # L1 prior: a shape is used once it explains more than ~this noise (mm)
LID_SPARSITY = 6.0  # gaze and eyeWide: lid-contour noise must not be read as them
UNOBSERVABLE = ("tongueOut",)  # no landmark lies on the tongue
IDENTITY_PRIOR = 1.0  # mm^2: landmark noise variance against the identities' unit variance
SPREAD_SCALE_MM = 4.0  # a landmark whose views disagree by this much counts half
IMAGE_ITERATIONS = 8  # pose and identity trade off on one image: more rounds (~0.1 s)
HORIZONTAL_FOV = np.radians(45.0)  # assumed camera for head translation from a video


def to_camera(points_px: np.ndarray) -> np.ndarray:
    """MediaPipe pixels (x right, y down, z away) -> a right-handed frame (y up, z to camera)."""
    return np.asarray(points_px, dtype=np.float64) * np.array([1.0, -1.0, -1.0])


def to_pixels(points: np.ndarray) -> np.ndarray:
    return np.asarray(points) * np.array([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Similarity:
    """points_camera = scale * rotation @ face_frame + translation (per frame if batched)."""

    scale: np.ndarray  # [...] pixels per metre
    rotation: np.ndarray  # [..., 3, 3]
    translation: np.ndarray  # [..., 3] pixels, camera frame

    def apply(self, points: np.ndarray) -> np.ndarray:
        rotated = np.einsum("...ij,...nj->...ni", self.rotation, points)
        return self.scale[..., None, None] * rotated + self.translation[..., None, :]

    def invert(self, points: np.ndarray) -> np.ndarray:
        centred = (points - self.translation[..., None, :]) / self.scale[..., None, None]
        return np.einsum("...ji,...nj->...ni", self.rotation, centred)


def umeyama(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> Similarity:
    """Weighted least-squares similarity mapping source [..., N, 3] onto target [..., N, 3]."""
    w = weights / weights.sum()
    mu_s = np.einsum("n,...nd->...d", w, source)
    mu_t = np.einsum("n,...nd->...d", w, target)
    s0, t0 = source - mu_s[..., None, :], target - mu_t[..., None, :]
    cov = np.einsum("n,...ni,...nj->...ij", w, t0, s0)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones(sigma.shape)
    fix[..., 2] = d
    rotation = u @ (fix[..., :, None] * vt)
    var_s = np.einsum("n,...nd->...", w, s0 * s0)
    scale = np.sum(sigma * fix, axis=-1) / var_s
    translation = mu_t - scale[..., None] * np.einsum("...ij,...j->...i", rotation, mu_s)
    return Similarity(scale, rotation, translation)


def landmark_trust(model: ExpressionModel) -> np.ndarray:
    """Per-landmark weight [478] from how well the correspondence pins it to the surface."""
    return 1.0 / (1.0 + (model.spread_mm / SPREAD_SCALE_MM) ** 2)


def _coordinate_weights(model: ExpressionModel) -> np.ndarray:
    """sqrt of each coordinate's weight [478 * 3]: landmark trust, z down-weighted."""
    per_axis = np.tile([1.0, 1.0, Z_WEIGHT], NUM_LANDMARKS)
    return np.sqrt(np.repeat(landmark_trust(model), 3) * per_axis)


class WeightSolver:
    """Box-constrained, regularised least squares for the blendshape weights of each frame
    (and, with `identity`, the identity weights after them: [F, 52 + K]).

    Minimises  |A x - y|^2 + ridge . x^2 + l1 . x  over 0 <= w <= 1 (identity unbounded) by
    ADMM (A'A is diagonalised once, so each step is a division). A = the model's deltas (and
    identities) in mm, weighted per coordinate (`_coordinate_weights`). The L1 term (as
    w >= 0, a linear one) costs each shape sparsity * |A_k| per unit weight: the gain that
    landmark noise of `sparsity` mm could fake. It keeps opposing shapes (eyeLookUp with
    eyeLookDown, ...) from cancelling each other out to fit noise. The identity's ridge is its
    prior, IDENTITY_PRIOR.
    """

    def __init__(
        self,
        model: ExpressionModel,
        ridge: float | None = None,
        sparsity: float | None = None,
        identity: bool = False,
    ) -> None:
        ridge = RIDGE if ridge is None else ridge
        sparsity = SPARSITY if sparsity is None else sparsity
        shapes = len(ARKIT_BLENDSHAPES)
        self.coord_weight = _coordinate_weights(model)
        columns = np.concatenate([model.deltas, model.identities]) if identity else model.deltas
        flat = columns.reshape(len(columns), -1).T * 1000.0
        self.a = flat * self.coord_weight[:, None]
        gram = self.a.T @ self.a
        self.l1 = np.zeros(len(columns))
        self.l1[:shapes] = sparsity * np.sqrt(np.diag(gram)[:shapes])
        for k, name in enumerate(ARKIT_BLENDSHAPES):
            if name.startswith(("eyeLook", "eyeWide")):
                self.l1[k] *= LID_SPARSITY
        ridge_k = np.full(len(columns), IDENTITY_PRIOR)
        ridge_k[:shapes] = ridge
        for name in UNOBSERVABLE:
            ridge_k[ARKIT_BLENDSHAPES.index(name)] = 1e6
        self.lower = np.full(len(columns), -np.inf)
        self.upper = np.full(len(columns), np.inf)
        self.lower[:shapes], self.upper[:shapes] = 0.0, 1.0
        self.gamma, self.q = np.linalg.eigh(gram + np.diag(ridge_k))
        self.rho = float(np.median(self.gamma[:shapes] if not identity else self.gamma))

    def solve(self, residual_m: np.ndarray, iterations: int = 300) -> np.ndarray:
        """Weights [F, 52] (or [F, 52 + K]) for face-frame residuals [F, 478, 3] (metres)."""
        y = residual_m.reshape(len(residual_m), -1) * 1000.0 * self.coord_weight
        b2 = (2.0 * (y @ self.a) - self.l1) @ self.q
        denom = 2.0 * self.gamma + self.rho
        z = np.zeros((len(y), len(self.l1)))
        u = np.zeros_like(z)
        for _ in range(iterations):
            w = ((b2 + self.rho * ((z - u) @ self.q)) / denom) @ self.q.T
            z_new = np.clip(w + u, self.lower, self.upper)
            u += w - z_new
            done = np.max(np.abs(z_new - z)) < 1e-5 and np.max(np.abs(w - z_new)) < 1e-4
            z = z_new
            if done:
                break
        return z


class IdentitySolver:
    """The identity weights [K] one person shares over frames, given each frame's residual
    once its expression is removed: ridge least squares under the prior (closed form)."""

    def __init__(self, model: ExpressionModel) -> None:
        self.coord_weight = _coordinate_weights(model)
        flat = model.identities.reshape(len(model.identities), -1).T * 1000.0
        self.b = flat * self.coord_weight[:, None]
        self.gram = self.b.T @ self.b

    def solve(self, residual_m: np.ndarray) -> np.ndarray:
        """Identity [K] for residuals [F, 478, 3] (metres) of F frames of one person."""
        y = residual_m.reshape(len(residual_m), -1) * 1000.0 * self.coord_weight
        lhs = len(y) * self.gram + IDENTITY_PRIOR * np.eye(len(self.gram))
        return np.linalg.solve(lhs, self.b.T @ y.sum(axis=0))


def _second_difference(frames: int) -> np.ndarray:
    """Eigenvalues of the squared path-graph Laplacian in the DCT-II basis."""
    return (2.0 - 2.0 * np.cos(np.pi * np.arange(frames) / frames)) ** 2


def rigidity(model: ExpressionModel, scale_m: float = 0.002) -> np.ndarray:
    """Per-landmark trust for the pose fit: low where expressions move a point far."""
    motion = np.sqrt(np.sum(model.deltas**2, axis=(0, 2)))
    return 1.0 / (1.0 + (motion / scale_m) ** 2)


def _project_out(model: ExpressionModel, offset: np.ndarray) -> np.ndarray:
    """The part of a shape offset [478, 3] that no combination of shapes and identities
    explains."""
    columns = np.concatenate([model.deltas, model.identities])
    a = columns.reshape(len(columns), -1).T
    coef, *_ = np.linalg.lstsq(a, offset.ravel(), rcond=None)
    return (offset.ravel() - a @ coef).reshape(offset.shape)


@dataclass(frozen=True)
class FrameFits:
    weights: np.ndarray  # [F, 52]
    pose: Similarity  # batched over F
    neutral: np.ndarray  # [478, 3] face frame: the subject's neutral used
    residual_mm: np.ndarray  # [F] RMS distance of the fitted to the observed points (mm),
    # each landmark weighted by `landmark_trust`
    identity: np.ndarray | None = None  # [K] fitted identity weights (None: not estimated)


def fit_frames(
    points_px: np.ndarray,
    *,
    model: ExpressionModel | None = None,
    smoothing: float = 0.0,
    neutral: np.ndarray | None = None,
    estimate_neutral: bool = False,
    rest: bool = False,
    iterations: int = 4,
    identity: np.ndarray | None = None,
) -> FrameFits:
    """Fit every frame of landmarks [F, 478, 3] (pixels, no NaN) of one person.

    `neutral`: the subject's neutral shape (face frame), or `identity`: their identity
    weights [K]; with neither, the identity is fitted (one for all frames). With
    `estimate_neutral`, the clip's median residual that no shape or identity explains joins
    the neutral. With `rest`, each shape's low point over the clip (its 5th percentile) is
    taken as the subject's resting face and folded into the neutral, so weights measure change
    from rest.
    """
    model = model or expression_model()
    observed = to_camera(points_px)
    trust = rigidity(model) * landmark_trust(model)
    solver = WeightSolver(model)
    fitting_identity = neutral is None and identity is None and len(model.identities) > 0
    alpha = np.zeros(len(model.identities)) if identity is None else np.asarray(identity, float)
    extra = np.zeros_like(model.neutral)  # offsets the identity does not explain

    def base() -> np.ndarray:
        own = model.shape(alpha) if neutral is None else np.asarray(neutral, dtype=np.float64)
        return own + extra

    weights = np.zeros((len(observed), len(ARKIT_BLENDSHAPES)))
    joint = WeightSolver(model, identity=True) if fitting_identity else None
    identities = IdentitySolver(model) if fitting_identity else None
    for step in range(iterations):
        pose = umeyama(model.deform(weights, base()), observed, trust)
        canonical = pose.invert(observed)
        if fitting_identity:
            both = joint.solve(canonical - model.neutral - extra)
            weights = both[:, : len(ARKIT_BLENDSHAPES)]
            alpha = identities.solve(canonical - model.deform(weights, model.neutral + extra))
            if len(observed) > 1:  # the frames' weights under the identity they share
                weights = solver.solve(canonical - base())
        else:
            weights = solver.solve(canonical - base())
        if step == 1 and estimate_neutral:
            leftover = canonical - model.deform(weights, base())
            extra = extra + _project_out(model, np.median(leftover, axis=0))
        if step == 1 and rest:
            resting = np.percentile(weights, 5, axis=0)
            extra = extra + np.einsum("k,kpd->pd", resting, model.deltas)
            weights = np.clip(weights - resting, 0.0, 1.0)
    weights = np.clip(_smooth(weights, smoothing), 0.0, 1.0)
    shaped = model.deform(weights, base())
    pose = umeyama(shaped, observed, trust)
    error = pose.invert(observed) - shaped
    counts = landmark_trust(model)  # the outline's z is MediaPipe's guess: it counts little
    rms = np.sqrt(np.sum(error**2, axis=-1) @ counts / counts.sum()) * 1000.0
    return FrameFits(weights, pose, base(), rms, alpha if fitting_identity else identity)


def neutral_from(landmarks: VideoLandmarks | np.ndarray, model: ExpressionModel | None = None):
    """A subject's neutral shape (face frame) from a calibration clip or photo of their
    neutral face, for `fit_video(neutral=...)`: whatever they do on average there is 0."""
    model = model or expression_model()
    points = (
        landmarks.points[landmarks.found] if isinstance(landmarks, VideoLandmarks) else landmarks
    )
    points = np.asarray(points, dtype=np.float64).reshape(-1, NUM_LANDMARKS, 3)
    if not len(points):
        raise InputError("no face to take a neutral shape from", field="neutral")
    fits = fit_frames(points, model=model, estimate_neutral=len(points) > 1)
    return model.deform(np.median(fits.weights, axis=0), fits.neutral)


@dataclass(frozen=True)
class FaceFit:
    """One face in one image, fitted: see the module docstring."""

    weights: np.ndarray  # [52]
    pose: Similarity  # face frame -> camera frame (pixels)
    neutral: np.ndarray  # [478, 3] this face's shape without its expression (face frame)
    error_mm: float  # RMS fitting residual (landmarks weighted by `landmark_trust`)
    model: ExpressionModel = field(repr=False)
    identity: np.ndarray | None = None  # [K] the face's fitted identity weights (ICT's)

    @property
    def head_angles(self) -> np.ndarray:
        """(pitch, yaw, roll) of the face towards the camera, radians."""
        return head_angles(self.pose.rotation)

    def landmarks(
        self, weights: np.ndarray | None = None, head: np.ndarray | None = None
    ) -> np.ndarray:
        """Pixel landmarks [..., 478, 3] of this face with other weights [..., 52] and head
        channels [..., 6] (relative to the photo's pose). With neither: the photo's own."""
        weights = self.weights if weights is None else np.asarray(weights, dtype=np.float64)
        points = self.model.deform(weights, self.neutral, head)
        return to_pixels(self.pose.apply(points))


def fit_image(landmarks_px: np.ndarray, model: ExpressionModel | None = None) -> FaceFit:
    """Fit one face's landmarks [478, 3] (pixels, as from `detect_faces`): pose, identity
    (under its prior) and weights; see `FaceFit`."""
    points = np.asarray(landmarks_px, dtype=np.float64)
    if points.shape != (NUM_LANDMARKS, 3) or not np.isfinite(points).all():
        raise InputError(f"expected finite landmarks [{NUM_LANDMARKS}, 3], got {points.shape}")
    model = model or expression_model()
    fits = fit_frames(points[None], model=model, iterations=IMAGE_ITERATIONS)
    pose = Similarity(fits.pose.scale[0], fits.pose.rotation[0], fits.pose.translation[0])
    own = pose.invert(to_camera(points)[None])[0]
    neutral = own - np.einsum("k,kpd->pd", fits.weights[0], model.deltas)
    error = float(fits.residual_mm[0])
    return FaceFit(fits.weights[0], pose, neutral, error, model, fits.identity)


def _fill_gaps(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linear interpolation over frames [F, ...] where `found` is False (ends held)."""
    frames = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(frames, frames[found], flat[found, j])
    return out.reshape(values.shape)


def _smooth(values: np.ndarray, amount: float) -> np.ndarray:
    """Smoothing along frames [F, ...] that penalises acceleration by `amount` (closed form
    in the cosine basis, where the second difference is diagonal): a gentle low-pass."""
    if amount <= 0 or len(values) < 3:
        return values
    n = len(values)
    shape = (n,) + (1,) * (values.ndim - 1)
    gain = 1.0 / (1.0 + amount * _second_difference(n)).reshape(shape)
    return idct(dct(values, norm="ortho", axis=0) * gain, norm="ortho", axis=0)


def fit_video(
    video: VideoLandmarks,
    job: Job | None = None,
    *,
    smoothing: float = DEFAULT_SMOOTHING,
    neutral: np.ndarray | None = None,
    rest: bool = True,
    model: ExpressionModel | None = None,
    layer: str = "performance",
    provenance: dict[str, Any] | None = None,
) -> FaceTrack:
    """A FaceTrack from a video's landmarks: bounded, temporally smoothed weights and head pose.

    `smoothing` is given for 30 fps and scaled with the frame rate so it means the same
    frequencies (the default passes speech movements below ~6 Hz).
    `neutral`: the subject's neutral landmarks in the face frame (from `neutral_from` on a
    clip of their neutral face); estimated from this clip when None. `rest`: measure weights
    from the subject's resting face in this clip (each shape's low point), which removes
    offsets from how their face differs from the model's, but also an expression held for
    the whole clip; pass a `neutral` and rest=False to keep those. Frames without a face are
    bridged.
    Head rotation is relative to facing the camera; translation is relative to the clip's
    median position, in metres, assuming a camera with a 45 degree horizontal field of view.
    """
    job = job or Job()
    found = video.found
    if not found.any():
        raise InputError("no face found in any frame of the video", field="video")
    job.progress("fitting", 0.0)
    model = model or expression_model()
    points = _hold_hidden_irises(_fill_gaps(video.points.astype(np.float64), found))
    per_time = (float(video.fps) / 30.0) ** 4  # keeps the cut-off in Hz at any frame rate
    fits = fit_frames(
        points,
        model=model,
        smoothing=smoothing * per_time,
        neutral=neutral,
        estimate_neutral=neutral is None,
        rest=rest,
    )
    job.progress("fitting", 0.9)
    values = np.zeros((len(points), len(ALL_CHANNELS)), np.float32)
    values[:, : len(ARKIT_BLENDSHAPES)] = _blinks_to_own_lids(model, fits.weights, fits.neutral)
    head = _head_channels(fits.pose, video.size, smoothing * per_time)
    values[:, len(ARKIT_BLENDSHAPES) :] = head
    job.progress("fitting", 1.0)
    info = {
        "fitter": "emospeaker.face.fit",
        "fitter_version": FITTER_VERSION,
        "face_model": "ICT FaceKit",
        "frames_with_face": int(found.sum()),
        "smoothing": smoothing,
        "rest": "clip" if rest else "neutral" if neutral is not None else "model",
        "median_error_mm": round(float(np.median(fits.residual_mm)), 3),
        **(provenance or {}),
    }
    return FaceTrack.from_values(values, Fraction(video.fps), layer=layer, provenance=info)


EYES = (  # per eye: (upper, lower) lid centre, (outer, inner) corner, iris landmarks
    ((159, 145), (33, 133), range(468, 473)),
    ((386, 374), (263, 362), range(473, 478)),
)
HIDDEN_BELOW = 0.6  # an eye open less than this share of its median gap hides its iris


def _hold_hidden_irises(points: np.ndarray) -> np.ndarray:
    """Landmarks [F, 478, 3] with each iris held at its typical place (relative to its eye's
    corners) in frames where the lids hide it.

    MediaPipe still reports an iris under closed lids, drifting down with them; fitted, that
    reads as the eyes looking down and takes over part of every blink.
    """
    out = points.copy()
    for (upper, lower), (outer, inner), iris in EYES:
        gap = np.linalg.norm(points[:, upper, :2] - points[:, lower, :2], axis=-1)
        hidden = gap < HIDDEN_BELOW * np.median(gap)
        if not hidden.any() or hidden.all():
            continue
        local = _eye_frame(points, outer, inner)
        ids = list(iris)
        typical = np.median(local.to_local(points[:, ids])[~hidden], axis=0)  # [5, 3]
        out[np.ix_(hidden, ids)] = local.from_local(typical)[hidden]
    return out


@dataclass(frozen=True)
class _EyeFrame:
    """Per-frame 2D frame of an eye: origin between its corners, x along them, unit = width."""

    centre: np.ndarray  # [F, 3]
    cos: np.ndarray  # [F]
    sin: np.ndarray  # [F]
    width: np.ndarray  # [F]

    def to_local(self, p: np.ndarray) -> np.ndarray:
        d = (p - self.centre[:, None]) / self.width[:, None, None]
        c, s = self.cos[:, None], self.sin[:, None]
        return np.stack(
            [d[..., 0] * c + d[..., 1] * s, d[..., 1] * c - d[..., 0] * s, d[..., 2]], -1
        )

    def from_local(self, q: np.ndarray) -> np.ndarray:
        c, s = self.cos[:, None], self.sin[:, None]
        x, y = q[..., 0] * c - q[..., 1] * s, q[..., 0] * s + q[..., 1] * c
        z = np.broadcast_to(q[..., 2], x.shape)
        return np.stack([x, y, z], -1) * self.width[:, None, None] + self.centre[:, None]


def _eye_frame(points: np.ndarray, outer: int, inner: int) -> _EyeFrame:
    axis = points[:, inner, :2] - points[:, outer, :2]
    width = np.linalg.norm(axis, axis=-1)
    centre = (points[:, inner] + points[:, outer]) / 2
    return _EyeFrame(centre, axis[:, 0] / width, axis[:, 1] / width, width)


LIDS = {  # MediaPipe's (upper, lower) lid-margin landmarks of each eye, paired
    "eyeBlinkRight": ((159, 158, 160), (145, 153, 144)),
    "eyeBlinkLeft": ((386, 385, 387), (374, 380, 373)),
}


def _blinks_to_own_lids(model, weights: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Weights [F, 52] with each eyeBlink rescaled so that 1 is this face's lids meeting.

    ICT's eyeBlink closes ICT's eye (about 10 mm of lid travel); a person whose eyes open less
    (in the fitted frame) has shut them at a lower weight, which would leave every captured
    blink half-closed. Wider eyes than ICT's are left as they are.
    """
    out = weights.copy()
    for name, (upper, lower) in LIDS.items():
        k = ARKIT_BLENDSHAPES.index(name)
        gap = np.mean(neutral[list(upper), 1] - neutral[list(lower), 1])
        travel = np.mean(model.deltas[k, list(lower), 1] - model.deltas[k, list(upper), 1])
        if gap > 0 and travel > gap:
            out[:, k] = np.clip(weights[:, k] * travel / gap, 0.0, 1.0)
    return out


def _head_channels(pose: Similarity, size: tuple[int, int], smoothing: float) -> np.ndarray:
    """Six head channels per frame from fitted similarities (see `fit_video`)."""
    angles = np.unwrap(head_angles(pose.rotation), axis=0)
    width, height = size
    focal = (width / 2) / np.tan(HORIZONTAL_FOV / 2)
    pivot = pose.apply(np.broadcast_to(HEAD_PIVOT, (len(pose.scale), 1, 3)))[:, 0]
    centre = np.array([width / 2, -height / 2])
    lateral = (pivot[:, :2] - centre) / pose.scale[:, None]
    depth = -focal / pose.scale  # towards the camera is +z
    position = np.concatenate([lateral, depth[:, None]], axis=1)
    position -= np.median(position, axis=0)
    head = np.concatenate([_smooth(angles, smoothing), _smooth(position, smoothing)], axis=1)
    assert head.shape[1] == len(HEAD_CHANNELS)
    return head


__all__ = [
    "FaceFit",
    "FrameFits",
    "fit_frames",
    "fit_image",
    "fit_video",
    "neutral_from",
]
