"""Benchmark of the 3DMM fit: round-trip accuracy and speed, and capture of ICT's own face.

    PYTHONPATH=backend python scripts/bench_fit.py [--cases 40] [--frames 750] [--no-render]

1. Round trip (`fit_image`): landmarks synthesised from the face model with a known identity
   (drawn from ICT's prior), head pose (angles up to 20 degrees) and weights, plus pixel noise
   (the face is ~450 px wide), fitted back. Prints the weights' mean absolute error (observable
   channels), head-angle error in degrees, the identity's shape error in mm (RMS over ICT's
   face vertices and over the landmarks, after similarity alignment: a photo does not tell
   size) and the time per portrait fit.
2. Video (`fit_video`): a synthetic clip of one person, per-frame pose and weights; time per
   frame (real time at 25 fps needs < 40 ms) and the errors as above.
3. Capture of a rendered performance: ICT's mean face rendered (pyrender, OSMesa) performing
   known channels with a turning head, tracked by MediaPipe, fitted: the correlation and mean
   absolute error of each performed channel, and the largest weight of any channel that was
   not performed. This checks the whole path, MediaPipe included, in ICT's own semantics.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from emospeaker.channels import ARKIT_BLENDSHAPES, index_of  # noqa: E402
from emospeaker.face.expression import expression_model  # noqa: E402
from emospeaker.face.fit import fit_image, fit_video, to_pixels, umeyama  # noqa: E402
from emospeaker.face.landmarks import VideoLandmarks  # noqa: E402
from emospeaker.face.model import load_face_model  # noqa: E402
from emospeaker.face.pose import head_angles, head_rotation  # noqa: E402

OBSERVABLE = [i for i, n in enumerate(ARKIT_BLENDSHAPES) if n != "tongueOut"]
SCALE = 3000.0  # pixels per metre: a face ~450 px wide


def synthesise(model, weights, angles, identity, rng, noise_px):
    """Pixel landmarks [..., 478, 3] of a person performing `weights` turned by `angles`."""
    shaped = model.deform(weights, model.shape(identity))
    points = shaped @ np.swapaxes(head_rotation(angles), -1, -2)
    pixels = to_pixels(SCALE * points + np.array([320.0, -260.0, 0.0]))
    return pixels + rng.normal(0.0, noise_px, pixels.shape)


def aligned_rms_mm(got: np.ndarray, want: np.ndarray) -> float:
    """RMS distance (mm) of two point sets [N, 3] after the best similarity transform."""
    moved = umeyama(got[None], want[None], np.ones(len(got))).apply(got[None])[0]
    return float(np.sqrt(np.mean(np.sum((moved - want) ** 2, -1))) * 1000)


def shape_errors(identity_fit, identity_true) -> tuple[float, float]:
    """(face vertices, landmarks) RMS shape error in mm of a fitted identity."""
    face, model = load_face_model(), expression_model()
    ids = face.part_ids("face")
    k = len(identity_true)
    on_face = aligned_rms_mm(face.shape(identity_fit)[ids], face.shape(identity_true)[ids])
    on_marks = aligned_rms_mm(model.shape(identity_fit[:k]), model.shape(identity_true))
    return on_face, on_marks


def random_weights(rng, count: int) -> np.ndarray:
    weights = np.zeros(len(ARKIT_BLENDSHAPES))
    chosen = rng.choice(OBSERVABLE, size=count, replace=False)
    weights[chosen] = 1.0 if count == 1 else rng.uniform(0.2, 1.0, count)
    return weights


def bench_round_trip(cases: int) -> None:
    model = expression_model()
    rng = np.random.default_rng(0)
    fit_image(synthesise(model, np.zeros(52), np.zeros(3), None, rng, 0.0), model)  # warm-up
    for label, count, person_sd, noise in (
        ("one shape at 1, mean face", 1, 0.0, 0.0),
        ("6-shape mixes, mean face", 6, 0.0, 0.0),
        ("6-shape mixes, random person", 6, 1.0, 0.0),
        ("6-shape mixes, random person", 6, 1.0, 0.5),
        ("6-shape mixes, random person", 6, 1.0, 1.5),
    ):
        errors, pose, face_mm, marks_mm, seconds = [], [], [], [], 0.0
        for _ in range(cases):
            truth = random_weights(rng, count)
            angles = rng.uniform(-0.35, 0.35, 3)
            person = rng.normal(0.0, person_sd, len(model.identities))
            pixels = synthesise(model, truth, angles, person, rng, noise)
            start = time.perf_counter()
            fit = fit_image(pixels, model)
            seconds += time.perf_counter() - start
            errors.append(np.abs(fit.weights - truth)[OBSERVABLE])
            pose.append(np.degrees(np.abs(fit.head_angles - angles)))
            on_face, on_marks = shape_errors(fit.identity, person)
            face_mm.append(on_face)
            marks_mm.append(on_marks)
        e, p = np.array(errors), np.array(pose)
        print(
            f"round trip, {label}, noise {noise} px: weights MAE {e.mean():.4f} "
            f"(p95 {np.percentile(e, 95):.3f}, max {e.max():.2f}); head angles mean "
            f"{p.mean():.2f} deg, max {p.max():.2f} deg; identity shape RMS {np.mean(face_mm):.2f}"
            f" mm on the face (max {np.max(face_mm):.2f}), {np.mean(marks_mm):.2f} mm on the "
            f"landmarks; fit_image {1000 * seconds / cases:.0f} ms"
        )


def bench_video(frames: int, fps: int = 25) -> None:
    model = expression_model()
    rng = np.random.default_rng(1)
    truth = np.array([random_weights(rng, 6) for _ in range(frames)])
    t = np.arange(frames) / fps
    angles = np.stack([0.15 * np.sin(t), 0.3 * np.sin(0.7 * t), 0.1 * np.sin(0.4 * t)], -1)
    person = rng.normal(0.0, 1.0, len(model.identities))
    pixels = synthesise(model, truth, angles, person, rng, 0.5)
    video = VideoLandmarks(pixels.astype(np.float32), Fraction(fps), (640, 480))
    start = time.perf_counter()
    track = fit_video(video, smoothing=0.0, rest=False)
    seconds = time.perf_counter() - start
    weights, head = track.values[:, :52], track.values[:, 52:55]
    pose = np.degrees(np.abs(head - angles))
    print(
        f"video fit ({frames} frames, one person, 0.5 px noise): {1000 * seconds / frames:.2f}"
        f" ms/frame ({fps / (frames / seconds) * 100:.1f}% of real time at {fps} fps); weights "
        f"MAE {np.abs(weights - truth)[:, OBSERVABLE].mean():.4f}; head angles mean "
        f"{pose.mean():.2f} deg; median fit error {track.provenance['median_error_mm']} mm"
    )


def performance(frames: int, fps: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(weights [F, 52], yaw [F]) of a short rendered performance."""
    t = np.arange(frames) / fps
    w = np.zeros((frames, len(ARKIT_BLENDSHAPES)))
    w[:, index_of("jawOpen")] = 0.35 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t))
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        w[:, index_of(name)] = np.clip(1.5 * (t - 0.6), 0, 0.8)
    for name in ("eyeBlinkLeft", "eyeBlinkRight"):
        w[:, index_of(name)] = np.exp(-(((t - 0.9) / 0.1) ** 2))
    w[:, index_of("browInnerUp")] = 0.7 * np.clip(np.sin(np.pi * t / t[-1]), 0, 1)
    w[:, index_of("mouthPucker")] = 0.6 * np.clip(1 - 3 * t, 0, 1)
    return w, np.radians(12.0) * np.sin(2 * np.pi * 0.4 * t)


def bench_rendered(frames: int = 50) -> None:
    from emospeaker.face.embedding import render_view
    from emospeaker.face.landmarks import detect_faces

    face = load_face_model()
    truth, yaw = performance(frames)
    start = time.perf_counter()
    points = []
    for weights, turn in zip(truth, yaw, strict=True):
        found = detect_faces(render_view(face, 0.0, float(turn), 512, weights), max_faces=1)
        points.append(found[0] if found else np.full((478, 3), np.nan, np.float32))
    tracking = time.perf_counter() - start
    video = VideoLandmarks(np.array(points, np.float32), Fraction(25), (512, 512))
    track = fit_video(video, smoothing=0.0)
    performed = [k for k in range(52) if truth[:, k].max() > 0]
    parts = []
    for k in performed:
        got = track.values[:, k]
        r = np.corrcoef(got, truth[:, k])[0, 1] if got.std() > 0 else 0.0
        parts.append(f"{ARKIT_BLENDSHAPES[k]} r {r:.2f} MAE {np.abs(got - truth[:, k]).mean():.2f}")
    idle = [k for k in OBSERVABLE if k not in performed]
    worst = max(idle, key=lambda k: track.values[:, k].max())
    turn = np.degrees(np.abs(head_angles(head_rotation(track.values[:, 52:55]))[:, 1] - yaw))
    print(
        f"capture of ICT's own rendered face ({frames} frames, render + MediaPipe "
        f"{1000 * tracking / frames:.0f} ms/frame): " + "; ".join(parts) + f"; largest "
        f"unperformed channel {ARKIT_BLENDSHAPES[worst]} at {track.values[:, worst].max():.2f};"
        f" yaw error max {turn.max():.2f} deg"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--frames", type=int, default=750)
    parser.add_argument("--no-render", action="store_true", help="skip the rendered capture")
    args = parser.parse_args()
    bench_round_trip(args.cases)
    bench_video(args.frames)
    if not args.no_render:
        bench_rendered()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
