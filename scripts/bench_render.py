"""Self-check of the photo renderer: does the video show the face the track asked for?

Renders a 512x512 talking video, re-tracks its frames with MediaPipe and compares them with the
landmarks the renderer was asked to draw:

- M-LMD: mean distance of the 40 lip landmarks to the intended ones, in pixels at 512x512 and
  as a fraction of the inter-ocular (outer eye corner) distance; beside it the same figure for
  a still photo (what doing nothing scores), so the ratio says how much of the motion arrived.
- lip aperture correlation (Pearson r) between intended and re-tracked frames.
- jitter: frame-to-frame motion of the nose bridge beyond the intended motion (px), and the
  mean frame-to-frame change of the background outside the warp mesh (grey levels).
- speed: frames/s of drawing alone and of drawing + H.264 encoding at 512x512.

With --sheet DIR it also writes pictures to look at: `emotions.png`, the eight emotions at
intensities 0.5, 1 and 1.5 (rows) on the matplotlib portrait, each at the frame of the sample
speech whose jawOpen is nearest SHEET_JAW (a mid-speech mouth) outside blinks, and
`mouth_closeups.png`, the mouth of each emotion at intensity 1 at its widest opening, magnified.

Sources of motion:
  --replay CLIP   the landmarks MediaPipe tracks in a real talking-head video (e.g. the clips in
                  shared/data/lipsync_dev), drawn onto that video's frame with the mouth closed:
                  real mouth shapes, no face model needed.
  (default)       the project's own pipeline: the matplotlib portrait, samples/hello.flac
                  animated by the default engine with --emotion, and the face model's landmarks.

    PYTHONPATH=backend python scripts/bench_render.py [--replay CLIP] [--frames N] [--save DIR]
        [--sheet DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))

from emospeaker.channels import ARKIT_BLENDSHAPES  # noqa: E402
from emospeaker.face.landmarks import (  # noqa: E402
    LEFT_EYE_OUTER,
    RIGHT_EYE_OUTER,
    lip_aperture,
    track_video,
    video_frames,
)
from emospeaker.render.portrait import topology as tp  # noqa: E402
from emospeaker.render.portrait.animator import PortraitAnimator  # noqa: E402
from emospeaker.render.portrait.framing import Framing  # noqa: E402
from emospeaker.render.video import write_video  # noqa: E402

LIPS = list(dict.fromkeys(tp.LIPS_OUTER + tp.LIPS_INNER))
NOSE_BRIDGE = (6, 168)
SIZE = 512
FLOOR_FRAMES = 30
SHEET_JAW = 0.3


def replay(clip: Path, frames: int) -> tuple:
    """Animator on the clip's most closed-mouth frame, targets = the clip's own landmarks (no
    channels: the mouth interior opens as far as the lips do)."""
    tracked = track_video(clip)
    points = tracked.points[:frames]
    found = ~np.isnan(points[:, 0, 0])
    aperture = np.where(found, lip_aperture(np.nan_to_num(points)), np.inf)
    source = int(np.argmin(aperture))
    image = next(img for i, img in enumerate(video_frames(clip)) if i == source)
    framing = Framing.around(points[source], (image.shape[1], image.shape[0]), SIZE)
    animator = PortraitAnimator(framing.canvas(image), framing.to_canvas(points[source]))
    targets = framing.to_canvas(points[found])[:, :, :2]
    return animator, targets, None, tracked.fps


def portrait_animator() -> PortraitAnimator:
    """The matplotlib portrait, prepared at SIZE."""
    import matplotlib

    from emospeaker.render.photo import PhotoRenderer

    portrait = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB)
    return PhotoRenderer().prepare(image, SIZE)


def speech_motion(animator: PortraitAnimator, emotion: str) -> tuple:
    """Targets [F, 478, 2], channels (weights [F, 52], head [F, 6]) and fps of the sample
    speech animated by the default engine with `emotion`."""
    from emospeaker.api import animate
    from emospeaker.audio import load_audio
    from emospeaker.emotion import EmotionTimeline
    from emospeaker.render.portrait.motion import face_channels, face_motion

    track = animate(load_audio(ROOT / "samples" / "hello.flac"), EmotionTimeline.parse(emotion))
    targets = face_motion(animator.landmarks, track, animator.fit)
    return targets, face_channels(animator.fit, track), track.fps


def pipeline(frames: int, emotion: str) -> tuple:
    """The portrait + sample speech through the engine and the face model."""
    animator = portrait_animator()
    targets, (weights, head), fps = speech_motion(animator, emotion)
    return animator, targets[:frames], (weights[:frames], head[:frames]), fps


def draw(animator: PortraitAnimator, targets: np.ndarray, channels: tuple | None):
    """The frames, lazily (with the frames' channels when there are some)."""
    if channels is None:
        return map(animator.frame, targets)
    return map(animator.frame, targets, *channels)


def measure(
    animator: PortraitAnimator,
    targets: np.ndarray,
    channels: tuple | None,
    fps: Fraction,
    save: Path | None,
):
    next(draw(animator, targets[:1], channels))  # warm-up: numba loads its compiled kernels
    started, cpu = time.perf_counter(), time.process_time()
    frames = list(draw(animator, targets, channels))
    draw_fps = len(frames) / (time.perf_counter() - started)
    draw_cpu_ms = 1000 * (time.process_time() - cpu) / len(frames)  # all threads, load-proof
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.mp4"
        started = time.perf_counter()
        write_video(video, draw(animator, targets, channels), fps, total=len(targets))
        total_fps = len(targets) / (time.perf_counter() - started)
        retracked = track_video(video).points[:, :, :2]
        decoded = np.stack(list(video_frames(video))).astype(np.float32)
        still = np.repeat(animator.source[None], len(targets), axis=0)
        # MediaPipe's own floor: the unmoved photo as a video, re-tracked the same way
        floor_video = Path(tmp) / "still.mp4"
        write_video(floor_video, (animator.canvas for _ in range(FLOOR_FRAMES)), fps)
        floor = track_video(floor_video).points[:, :, :2]
    eyes = np.linalg.norm(targets[:, RIGHT_EYE_OUTER] - targets[:, LEFT_EYE_OUTER], axis=1)
    ok = ~np.isnan(retracked[:, 0, 0])

    def lmd(points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points[ok][:, LIPS] - targets[ok][:, LIPS], axis=2).mean(axis=1)

    rendered, frozen = lmd(retracked), lmd(still)
    floor_lmd = np.linalg.norm(floor[:, LIPS] - animator.source[LIPS], axis=2).mean()
    floor_jitter = np.linalg.norm(np.diff(floor[:, list(NOSE_BRIDGE)], axis=0), axis=2).mean()
    aperture_r = np.corrcoef(lip_aperture(retracked[ok]), lip_aperture(targets[ok]))[0, 1]
    bridge = retracked[ok][:, list(NOSE_BRIDGE)] - targets[ok][:, list(NOSE_BRIDGE)]
    jitter = np.linalg.norm(np.diff(bridge, axis=0), axis=2).mean()
    far = _outside_the_warp(animator, decoded.shape[1:3])
    background = np.abs(np.diff(decoded, axis=0))[:, far].mean() if far.any() else np.nan
    print(f"frames {len(targets)} at {fps} fps, tracked in {ok.sum()} of {len(ok)} rendered")
    print(
        f"M-LMD lips: {rendered.mean():.2f} px at {SIZE} ({(rendered / eyes[ok]).mean():.4f} "
        f"inter-ocular); still photo {frozen.mean():.2f} px "
        f"({(frozen / eyes[ok]).mean():.4f}); ratio {rendered.mean() / frozen.mean():.2f}; "
        f"MediaPipe's floor (the photo itself re-tracked) {floor_lmd:.2f} px"
    )
    print(f"lip aperture r (intended vs re-tracked): {aperture_r:.3f}")
    print(
        f"jitter: nose bridge {jitter:.3f} px/frame beyond the intended motion (floor "
        f"{floor_jitter:.3f}); background "
        f"outside the warp {background:.3f} grey levels/frame ({far.mean():.1%} of the picture)"
    )
    print(
        f"speed at {SIZE}x{SIZE}: draw {draw_fps:.1f} fps ({draw_cpu_ms:.1f} CPU-ms/frame), "
        f"draw + encode {total_fps:.1f} fps (wall clock; the machine's load: "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    if save:
        save.mkdir(parents=True, exist_ok=True)
        for i in np.linspace(0, len(frames) - 1, 6).astype(int):
            cv2.imwrite(
                str(save / f"frame_{i:04d}.png"), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR)
            )
        print(f"saved 6 frames to {save}")


def _outside_the_warp(animator: PortraitAnimator, shape: tuple[int, int]) -> np.ndarray:
    """Pixels no triangle of the warp mesh covers: the background that must stay still."""
    mesh = animator.mesh
    x0, y0, x1, y1 = mesh.box
    outside = np.ones(shape, bool)
    outside[y0:y1, x0:x1] = mesh.tri_map[: shape[0] - y0, : shape[1] - x0] == len(mesh.triangles)
    return outside


def sheet(folder: Path) -> None:
    """Write emotions.png and mouth_closeups.png (see the module docstring) into `folder`."""
    from emospeaker.emotion import EMOTIONS

    animator = portrait_animator()
    jaw = ARKIT_BLENDSHAPES.index("jawOpen")
    blinks = [ARKIT_BLENDSHAPES.index(f"eyeBlink{side}") for side in ("Left", "Right")]
    rows, closeups = [], []
    mouth = animator.source[list(tp.LIPS_OUTER)]
    cx, cy = np.rint(mouth.mean(axis=0)).astype(int)
    half = int(np.ptp(mouth[:, 0]) * 0.9)
    for intensity in (0.5, 1.0, 1.5):
        cells = []
        for emotion in EMOTIONS:
            targets, (weights, head), _ = speech_motion(animator, f"{emotion}:{intensity}")
            blinking = weights[:, blinks].max(axis=1) > 0.2  # show the eyes, not a blink
            i = int(np.argmin(np.abs(weights[:, jaw] - SHEET_JAW) + 10 * blinking))
            frame = animator.frame(targets[i], weights[i], head[i])
            cells.append(_label(cv2.resize(frame, (256, 256), interpolation=cv2.INTER_AREA),
                                f"{emotion} {intensity:g}"))  # fmt: skip
            if intensity == 1.0:
                i = int(np.argmax(weights[:, jaw]))
                frame = animator.frame(targets[i], weights[i], head[i])
                crop = frame[cy - half : cy + half, cx - 2 * half : cx + 2 * half]
                zoomed = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
                closeups.append(_label(zoomed, emotion))
        rows.append(np.hstack(cells))
    folder.mkdir(parents=True, exist_ok=True)
    grid = np.vstack([np.hstack(closeups[:4]), np.hstack(closeups[4:])])
    for name, image in (("emotions.png", np.vstack(rows)), ("mouth_closeups.png", grid)):
        cv2.imwrite(str(folder / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f"wrote {folder / 'emotions.png'} and {folder / 'mouth_closeups.png'}")


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replay", type=Path, help="a talking-head video to replay")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--emotion", default="happy:0.7")
    parser.add_argument("--save", type=Path, help="write a few rendered frames here as PNG")
    parser.add_argument("--sheet", type=Path, help="write the emotion sheet and close-ups here")
    args = parser.parse_args()
    if args.sheet:
        sheet(args.sheet)
    if args.replay:
        source = replay(args.replay, args.frames)
    else:
        source = pipeline(args.frames, args.emotion)
    measure(*source, args.save)


if __name__ == "__main__":
    main()
