"""Benchmark of `capture` on real talking-head clips: does the captured mouth open when the lips do?

    PYTHONPATH=backend python scripts/bench_capture.py [--clips DIR] [--cache DIR]

For each mp4 in DIR (default ../shared/data/lipsync_dev): MediaPipe tracks the face
(`track_video`), the fitter turns the landmarks into a FaceTrack (`fit_video`, as `capture`
does), and the captured mouth opening (`emospeaker.metrics.mouth_opening`) is correlated
(Pearson r, no lag: both come from the same frames) with the tracked inner-lip aperture
(landmarks 13-14 over the outer eye corners 33-263) over the frames with a face. Also prints
the r of jawOpen alone; for the eyes, the r of the captured eyeBlinkRight with the tracked
closing of the subject's right eye (minus the lid gap 159-145 over the eye's width 33-133) and
its highest value (a full blink should reach about 1); MediaPipe's and the fit's time per
frame, and the fit's median residual.

`--cache DIR` keeps each clip's landmarks there (npz), so that fitters of two checkouts can be
compared on exactly the same landmarks and a rerun skips MediaPipe.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backend"))

from emospeaker.face.fit import fit_video  # noqa: E402
from emospeaker.face.landmarks import VideoLandmarks, lip_aperture, track_video  # noqa: E402
from emospeaker.metrics import mouth_opening  # noqa: E402

CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lipsync_dev"


def landmarks_of(clip: Path, cache: Path | None) -> tuple[VideoLandmarks, float]:
    """The clip's landmarks and MediaPipe's seconds per frame (NaN when read from the cache)."""
    stored = cache / f"{clip.stem}.npz" if cache else None
    if stored and stored.is_file():
        with np.load(stored) as data:
            fps = Fraction(int(data["fps"][0]), int(data["fps"][1]))
            video = VideoLandmarks(data["points"], fps, tuple(int(v) for v in data["size"]))
        return video, float("nan")
    start = time.perf_counter()
    video = track_video(clip)
    seconds = (time.perf_counter() - start) / len(video.points)
    if stored:
        cache.mkdir(parents=True, exist_ok=True)
        fps = [video.fps.numerator, video.fps.denominator]
        np.savez_compressed(stored, points=video.points, fps=fps, size=list(video.size))
    return video, seconds


def eye_aperture(points: np.ndarray) -> np.ndarray:
    """The subject's right eye's lid gap over its width, per frame ([..., 478, 3])."""
    gap = np.linalg.norm(points[..., 159, :2] - points[..., 145, :2], axis=-1)
    return gap / np.linalg.norm(points[..., 33, :2] - points[..., 133, :2], axis=-1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--cache", type=Path, help="keep/read each clip's landmarks here")
    args = parser.parse_args()
    clips = sorted(args.clips.glob("*.mp4"))
    if not clips:
        print(f"no mp4 clips in {args.clips}", file=sys.stderr)
        return 1
    print(f"{'clip':40s} frames  r(open)   r(jaw)  r(blink) max(blink)  mp ms/f  fit ms/f  err mm")
    for clip in clips:
        video, tracking = landmarks_of(clip, args.cache)
        start = time.perf_counter()
        track = fit_video(video)
        fitting = (time.perf_counter() - start) / len(video.points)
        found = video.found
        aperture = lip_aperture(video.points[found])
        r_open = np.corrcoef(mouth_opening(track)[found], aperture)[0, 1]
        r_jaw = np.corrcoef(track.channel("jawOpen")[found], aperture)[0, 1]
        blink = track.channel("eyeBlinkRight")[found]
        r_blink = np.corrcoef(blink, -eye_aperture(video.points[found]))[0, 1]
        print(
            f"{clip.name:40s} {len(found):6d}  {r_open:7.3f}  {r_jaw:6.3f}  {r_blink:8.3f}  "
            f"{blink.max():10.2f}  "
            f"{1000 * tracking:7.1f}  {1000 * fitting:8.2f}  "
            f"{track.provenance['median_error_mm']:6.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
